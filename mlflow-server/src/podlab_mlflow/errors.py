"""How the gate refuses a request: one exception, answered in MLflow's own error format.

MLflow's clients parse `{"error_code": ..., "message": ...}` and show the message, so every
refusal uses that shape, with the status MLflow itself would use for the same error code, and a
message that says what to do next.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]


class Denied(Exception):
    """Stop the request with an MLflow-style JSON error."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def unauthenticated(message: str) -> Denied:
    return Denied(
        401, "UNAUTHENTICATED", message, {"WWW-Authenticate": 'Bearer realm="podlab-mlflow"'}
    )


def forbidden(message: str) -> Denied:
    return Denied(403, "PERMISSION_DENIED", message)


def bad_request(message: str) -> Denied:
    return Denied(400, "INVALID_PARAMETER_VALUE", message)


def not_found(message: str) -> Denied:
    return Denied(404, "RESOURCE_DOES_NOT_EXIST", message)


def unavailable(message: str) -> Denied:
    return Denied(503, "TEMPORARILY_UNAVAILABLE", message, {"Retry-After": "2"})


def not_implemented(message: str) -> Denied:
    return Denied(501, "NOT_IMPLEMENTED", message)


async def send_json(send: Send, status: int, body: Any, headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


async def send_denied(send: Send, denied: Denied) -> None:
    await send_json(
        send, denied.status, {"error_code": denied.code, "message": denied.message}, denied.headers
    )
