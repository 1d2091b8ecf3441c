"""Read a request the way MLflow's handler will read it, once, and forward exactly that.

MLflow's REST handlers build a Flask request, take its JSON with `get_json(force=True,
silent=True)` (decoding a double-encoded string once more), refuse a field spelled two ways
(`run_id` and `runId`) and fill the protobuf message with `ParseDict`, which accepts either
spelling. Query parameters are read with Werkzeug's parser. The gate does the same with the
same functions, so an owner check looks at the id the handler will act on, never at a raw
key of its own choosing. What the gate checked is what it forwards: the same bytes, or, when
it has to change the message (the run's user), the message re-serialised by MLflow's own
`message_to_json`, which the handler parses back to the same message.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from flask import Request

from podlab_mlflow.errors import bad_request


def flask_request(
    method: str, headers: Iterable[tuple[bytes, bytes]], query_string: bytes, body: bytes
) -> Request:
    """The Flask request MLflow's handler would see for these bytes (no app context needed)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/",
        "SCRIPT_NAME": "",
        "QUERY_STRING": query_string.decode("latin-1"),
        "SERVER_NAME": "mlflow",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in headers:
        key = name.decode("latin-1").lower()
        if key == "content-type":
            environ["CONTENT_TYPE"] = value.decode("latin-1")
    return Request(environ)


def parse_body(message_class: Any, request: Request, body: bytes) -> Any:
    """The protobuf message MLflow's `_get_request_message` builds from a JSON body.

    Unlike MLflow, which swallows a `ParseError` and acts on a half-filled message, a body
    that does not parse is refused here with 400 and the parser's reason.
    """
    from google.protobuf.json_format import ParseError  # type: ignore[import-untyped]
    from mlflow.exceptions import MlflowException
    from mlflow.server import handlers
    from mlflow.utils.proto_json_utils import parse_dict

    name = message_class.DESCRIPTOR.name
    if body.strip() and request.get_json(force=True, silent=True) is None:
        raise bad_request(f"{name}: the request body is not JSON; send a JSON object")
    message = message_class()
    try:
        data = handlers._get_normalized_request_json(request)
        if not isinstance(data, dict):
            raise bad_request(f"{name}: the request body must be a JSON object")
        handlers._reject_conflicting_field_aliases(data, message.DESCRIPTOR)
        parse_dict(data, message)  # type: ignore[no-untyped-call]
    except MlflowException as err:
        raise bad_request(f"{name}: {err.message}") from err
    except (ParseError, ValueError, TypeError, AttributeError) as err:
        raise bad_request(f"{name}: the request body does not match the API: {err}") from err
    return message


def encode(message: Any) -> bytes:
    """MLflow's own JSON for a message: what its handler parses back to the same message."""
    from mlflow.utils.proto_json_utils import message_to_json

    text: str = message_to_json(message, pretty=False)
    return text.encode()


def first_field(message: Any, names: tuple[str, ...]) -> str:
    """The handler's `message.a or message.b`: the first non-empty of these fields (a field
    the message type does not have is one the handler cannot read either)."""
    fields = message.DESCRIPTOR.fields_by_name
    for name in names:
        if name not in fields:
            continue
        value = getattr(message, name)
        if value:
            return str(value)
    return ""


def first_arg(request: Request, names: tuple[str, ...]) -> str:
    """The handler's `request.args.get(a) or request.args.get(b)`."""
    for name in names:
        value = request.args.get(name)
        if value:
            return str(value)
    return ""
