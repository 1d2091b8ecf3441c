"""The ASGI layer in front of MLflow: authenticate, authorise, and stamp the caller's identity.

It wraps MLflow's whole application (FastAPI routes and the mounted Flask app alike), so no
route can be added by an MLflow upgrade without passing through it: the only exception is
`/health`. It works on raw ASGI messages, buffering only the small JSON bodies it must read
(ids to check, `mlflow.user` to overwrite); artifact uploads and downloads stream through.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import anyio.to_thread
from sqlalchemy.exc import DBAPIError

from podlab_mlflow.hubauth import HubAuthenticator, HubRejected, HubUnavailable, HubUser
from podlab_mlflow.owners import EXPERIMENT, REGISTERED_MODEL, OwnerStore
from podlab_mlflow.policy import (
    DIRECT_S3_CAPABILITIES,
    MODEL_ARTIFACT,
    PATH_PARAMS,
    PRESIGNED,
    RUN_ARTIFACT,
    SERVER_INFO,
    Decision,
    Rule,
    classify,
    fully_unquote,
    unsafe_path_reason,
)
from podlab_mlflow.settings import Settings

_logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_COOKIE = "podlab-mlflow-token"  # noqa: S105  (a cookie name)
STATE_COOKIE = "podlab-mlflow-oauth-state"
MLFLOW_USER = "mlflow.user"
MAX_JSON_BODY = 64 * 1024 * 1024  # log-batch bodies are small; this bounds a hostile one


class Denied(Exception):
    """Stop the request with an MLflow-style JSON error."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def _unauthenticated(message: str) -> Denied:
    return Denied(
        401,
        "UNAUTHENTICATED",
        message,
        {"WWW-Authenticate": 'Bearer realm="podlab-mlflow"'},
    )


def _forbidden(message: str) -> Denied:
    return Denied(403, "PERMISSION_DENIED", message)


def _bad_request(message: str) -> Denied:
    return Denied(400, "INVALID_PARAMETER_VALUE", message)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def token_from_headers(headers: dict[str, str]) -> str | None:
    """`Bearer X`, `token X`, or Basic with the token as password; else the login cookie."""
    auth = headers.get("authorization", "").strip()
    if auth:
        scheme, _, value = auth.partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme in ("bearer", "token") and value:
            return value
        if scheme == "basic" and value:
            try:
                _, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return ""
            return password
        return ""  # an Authorization header we cannot use is a bad token, not "no token"
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:
        return None
    morsel = cookie.get(TOKEN_COOKIE)
    return morsel.value if morsel and morsel.value else None


async def _send_json(send: Send, status: int, body: Any, headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


async def _redirect(send: Send, location: str, cookies: list[str]) -> None:
    headers = [(b"location", location.encode()), (b"content-length", b"0")]
    headers += [(b"set-cookie", c.encode()) for c in cookies]
    await send({"type": "http.response.start", "status": 302, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _cookie(name: str, value: str, path: str, secure: bool, max_age: int | None = None) -> str:
    parts = [f"{name}={value}", f"Path={path}", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


class PodlabGate:
    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        authenticator: HubAuthenticator,
        owners: OwnerStore,
    ) -> None:
        self.app = app
        self.settings = settings
        self.auth = authenticator
        self.owners = owners
        self.prefix = settings.service_prefix  # e.g. /services/mlflow/

    # -- entry -------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope, public_prefix = self._strip_prefix(scope)
        try:
            try:
                await self._handle(scope, receive, send, public_prefix)
            except DBAPIError as err:
                # Only the gate's own lookups reach here (MLflow answers its own errors).
                _logger.error("ownership lookup failed: %s", err)
                raise Denied(
                    503,
                    "TEMPORARILY_UNAVAILABLE",
                    "The tracking database is not answering; retry shortly",
                    {"Retry-After": "2"},
                ) from err
        except Denied as denied:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _send_json(
                send,
                denied.status,
                {"error_code": denied.code, "message": denied.message},
                denied.headers,
            )

    def _strip_prefix(self, scope: Scope) -> tuple[Scope, str]:
        """Serve both /services/mlflow/... (through the hub's proxy) and /... (in-cluster)."""
        path: str = scope["path"]
        base = self.prefix.rstrip("/")
        if base and (path == base or path.startswith(self.prefix)):
            scope = dict(scope)
            scope["path"] = path[len(base) :] or "/"
            raw = scope.get("raw_path")
            if isinstance(raw, bytes) and raw.startswith(base.encode()):
                scope["raw_path"] = raw[len(base) :] or b"/"
            scope["root_path"] = scope.get("root_path", "") + base
            return scope, self.prefix
        return scope, "/"

    async def _handle(self, scope: Scope, receive: Receive, send: Send, public: str) -> None:
        method = scope.get("method", "GET")
        path = scope["path"]
        decision = classify(method, path)
        if decision.rule is Rule.PUBLIC:
            await self.app(scope, receive, send)
            return
        if path == "/oauth_callback":
            await self._oauth_callback(scope, send, public)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        self._check_paths(scope, decision, query)
        headers = _headers(scope)
        token = token_from_headers(headers)
        if token is None:
            if self._is_browser_page(method, path, headers):
                await self._start_login(scope, send, public)
                return
            raise _unauthenticated(
                "No credentials: send 'Authorization: Bearer <JupyterHub API token>' "
                "(in a podlab pod, MLFLOW_TRACKING_TOKEN is already set to your token), or log "
                f"in through JupyterHub at {self.prefix}"
            )
        user = await self._identify(token)
        await self._authorize(scope, receive, send, decision, user, query)

    async def _identify(self, token: str) -> HubUser:
        if not token:
            raise _unauthenticated("The Authorization header is not 'Bearer <token>'")
        try:
            user = await self.auth.identify(token)
        except HubUnavailable as err:
            _logger.error("token check failed: %s", err)
            raise Denied(
                503,
                "TEMPORARILY_UNAVAILABLE",
                "JupyterHub, which checks tokens, is not answering; retry shortly",
                {"Retry-After": "2"},
            ) from err
        except HubRejected as err:
            raise _forbidden(str(err)) from err
        if user is None:
            raise _unauthenticated(
                "The token was not accepted by JupyterHub (unknown, expired or revoked): "
                "create a new one in the hub's Token page or restart your server"
            )
        return user

    # -- authorisation -------------------------------------------------------------------------
    async def _authorize(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        decision: Decision,
        user: HubUser,
        query: list[tuple[str, str]],
    ) -> None:
        rule = decision.rule
        if not self.settings.presigned_urls:
            if PRESIGNED.search(scope["path"]):
                raise Denied(
                    501,
                    "NOT_IMPLEMENTED",
                    "Presigned bucket URLs are disabled on this server "
                    "(PODLAB_MLFLOW_PRESIGNED_URLS=false): artifacts go through the server",
                )
            if SERVER_INFO.match(scope["path"]) and scope.get("method") == "GET":
                await self._server_info_without_direct_s3(scope, receive, send)
                return
        if rule in (Rule.READ, Rule.WRITE, Rule.ARTIFACT_READ):
            await self.app(scope, receive, send)
            return
        if rule is Rule.ADMIN:
            if not user.admin:
                raise _forbidden(
                    f"{decision.endpoint or scope['path']} changes server-wide configuration: "
                    "only hub admins may call it"
                )
            await self.app(scope, receive, send)
            return
        if rule is Rule.ARTIFACT_WRITE:
            await self._check_artifact_write(decision.artifact_path or "", user)
            await self.app(scope, receive, send)
            return
        if rule is Rule.RUN_OWNER and decision.endpoint == "upload-artifact":
            await self._require_run_owner({}, query, user, decision.endpoint)
            await self.app(scope, receive, send)
            return
        body, receive = await self._read_json(scope, receive)
        if rule is Rule.CREATE_RUN:
            body["user_id"] = user.name
            tags = [t for t in body.get("tags") or [] if t.get("key") != MLFLOW_USER]
            body["tags"] = [*tags, {"key": MLFLOW_USER, "value": user.name}]
            await self.app(self._with_body(scope, body), self._replay(body, receive), send)
            return
        if rule is Rule.RUN_OWNER:
            owner = await self._require_run_owner(body, query, user, decision.endpoint)
            self._stamp_run_user(body, owner, decision.endpoint)
            await self.app(self._with_body(scope, body), self._replay(body, receive), send)
            return
        if rule is Rule.CREATE_EXPERIMENT:
            await self._forward_and_record(scope, body, receive, send, user, EXPERIMENT)
            return
        if rule is Rule.CREATE_MODEL:
            await self._forward_and_record(scope, body, receive, send, user, REGISTERED_MODEL)
            return
        if rule is Rule.EXPERIMENT_OWNER:
            experiment = str(body.get("experiment_id") or "")
            if not experiment:
                raise _bad_request(f"{decision.endpoint}: experiment_id is required")
            await self._require_owner(EXPERIMENT, experiment, user, "experiment")
            await self.app(self._with_body(scope, body), self._replay(body, receive), send)
            return
        if rule is Rule.MODEL_OWNER:
            name = str(body.get("name") or "")
            if not name:
                raise _bad_request(f"{decision.endpoint}: name is required")
            await self._require_owner(REGISTERED_MODEL, name, user, "registered model")
            if decision.endpoint in ("registered-models/rename", "registered-models/delete"):
                await self._forward_and_track(scope, body, receive, send, decision.endpoint, name)
                return
            await self.app(self._with_body(scope, body), self._replay(body, receive), send)
            return
        raise _forbidden(f"no rule for {scope['path']}")  # pragma: no cover (exhaustive)

    async def _server_info_without_direct_s3(
        self, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Tell clients to keep artifacts on the proxied path (no presigned bucket URLs)."""
        status, payload, flush = await self._forward_capturing(scope, None, receive, send)
        if status != 200:
            await flush()
            return
        info = json.loads(payload)
        for key in DIRECT_S3_CAPABILITIES:
            if key in info:
                info[key] = False
        await _send_json(send, 200, info, {})

    async def _require_owner(self, kind: str, key: str, user: HubUser, what: str) -> None:
        owner = await anyio.to_thread.run_sync(self.owners.owner, kind, key)
        if user.admin or owner == user.name:
            return
        if owner is None:
            raise _forbidden(
                f"The {what} {key!r} has no recorded owner (created before podlab, or by "
                "MLflow itself): only hub admins may change it"
            )
        raise _forbidden(
            f"The {what} {key!r} belongs to {owner!r}: only its owner or a hub admin may "
            "delete, rename or re-tag it, or change its versions and aliases"
        )

    async def _require_run_owner(
        self, body: dict[str, Any], query: list[tuple[str, str]], user: HubUser, endpoint: str
    ) -> str:
        ids = {str(body[k]) for k in ("run_id", "run_uuid") if body.get(k)}
        ids |= {v for k, v in query if k in ("run_id", "run_uuid") and v}
        if not ids:
            raise _bad_request(f"{endpoint}: run_id is required")
        owner = ""
        for run_id in sorted(ids):
            found = await anyio.to_thread.run_sync(self.owners.run_owner, run_id)
            owner = found or ""
            if not owner:
                if user.admin:
                    continue  # let MLflow answer RESOURCE_DOES_NOT_EXIST
                raise Denied(404, "RESOURCE_DOES_NOT_EXIST", f"Run with id={run_id} not found")
            if owner != user.name and not user.admin:
                raise _forbidden(
                    f"Run {run_id} belongs to {owner!r}: only its owner or a hub admin may "
                    "change it"
                )
        return owner or user.name

    def _stamp_run_user(self, body: dict[str, Any], owner: str, endpoint: str) -> None:
        """mlflow.user stays the run's owner, whatever a client sends later."""
        if endpoint in ("runs/set-tag", "runs/delete-tag") and body.get("key") == MLFLOW_USER:
            if endpoint == "runs/delete-tag":
                raise _forbidden("mlflow.user is recorded by the server and cannot be deleted")
            body["value"] = owner
        if endpoint == "runs/log-batch":
            for tag in body.get("tags") or []:
                if isinstance(tag, dict) and tag.get("key") == MLFLOW_USER:
                    tag["value"] = owner

    async def _check_artifact_write(self, artifact_path: str, user: HubUser) -> None:
        path = fully_unquote(artifact_path)
        if user.admin:
            return
        if run := RUN_ARTIFACT.match(path):
            owner = await anyio.to_thread.run_sync(self.owners.run_owner, run.group("run"))
            if owner is not None and owner != user.name:
                raise _forbidden(f"The artifacts of run {run.group('run')} belong to {owner!r}")
            return
        if model := MODEL_ARTIFACT.match(path):
            exists, owner = await anyio.to_thread.run_sync(
                self.owners.logged_model_owner, model.group("model")
            )
            if exists and owner is not None and owner != user.name:
                raise _forbidden(
                    f"The artifacts of logged model {model.group('model')} belong to {owner!r}"
                )

    def _check_paths(self, scope: Scope, decision: Decision, query: list[tuple[str, str]]) -> None:
        """Reject artifact paths that could leave the artifact root, however encoded."""
        candidates = [v for k, v in query if k in PATH_PARAMS]
        if decision.artifact_path is not None:
            candidates.append(decision.artifact_path)
            raw = scope.get("raw_path")
            if isinstance(raw, bytes):
                marker = raw.decode("latin-1").split("/mlflow-artifacts/", 1)[-1]
                candidates.append(marker.split("/", 1)[1] if "/" in marker else "")
        for value in candidates:
            if reason := unsafe_path_reason(value):
                raise _bad_request(f"Invalid artifact path {value!r}: it {reason}")

    # -- bodies ------------------------------------------------------------------------------
    async def _read_json(self, scope: Scope, receive: Receive) -> tuple[dict[str, Any], Receive]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Denied(400, "BAD_REQUEST", "client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_JSON_BODY:
                raise Denied(413, "REQUEST_LIMIT_EXCEEDED", "request body too large")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        if not raw.strip():
            body: Any = {}
        else:
            try:
                body = json.loads(raw)
                if isinstance(body, str):  # old clients double-encode; MLflow accepts it
                    body = json.loads(body)
            except ValueError as err:
                raise _bad_request(f"The request body is not JSON: {err}") from err
        if not isinstance(body, dict):
            raise _bad_request("The request body must be a JSON object")
        return body, receive

    @staticmethod
    def _with_body(scope: Scope, body: dict[str, Any]) -> Scope:
        length = str(len(json.dumps(body).encode())).encode()
        scope = dict(scope)
        scope["headers"] = [
            (k, v)
            for k, v in scope["headers"]
            if k.lower() not in (b"content-length", b"transfer-encoding", b"content-encoding")
        ] + [(b"content-length", length)]
        if not any(k.lower() == b"content-type" for k, _ in scope["headers"]):
            scope["headers"].append((b"content-type", b"application/json"))
        return scope

    @staticmethod
    def _replay(body: dict[str, Any], receive: Receive) -> Receive:
        payload = json.dumps(body).encode()
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": payload, "more_body": False}
            return await receive()

        return replay

    async def _forward_capturing(
        self, scope: Scope, body: dict[str, Any] | None, receive: Receive, send: Send
    ) -> tuple[int, bytes, Callable[[], Awaitable[None]]]:
        """Run MLflow, holding its (small JSON) response until the caller has acted on it."""
        messages: list[Message] = []
        status = 0

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            messages.append(message)

        if body is None:
            await self.app(scope, receive, capture)
        else:
            await self.app(self._with_body(scope, body), self._replay(body, receive), capture)
        payload = b"".join(
            m.get("body", b"") for m in messages if m["type"] == "http.response.body"
        )

        async def flush() -> None:
            for message in messages:
                await send(message)

        return status, payload, flush

    async def _forward_and_record(
        self,
        scope: Scope,
        body: dict[str, Any],
        receive: Receive,
        send: Send,
        user: HubUser,
        kind: str,
    ) -> None:
        status, payload, flush = await self._forward_capturing(scope, body, receive, send)
        if status == 200:
            try:
                reply = json.loads(payload)
                key = (
                    str(reply["experiment_id"])
                    if kind == EXPERIMENT
                    else str(reply["registered_model"]["name"])
                )
                await anyio.to_thread.run_sync(self.owners.record, kind, key, user.name)
            except Exception:
                _logger.exception("could not record the owner of a new %s", kind)
        await flush()

    async def _forward_and_track(
        self,
        scope: Scope,
        body: dict[str, Any],
        receive: Receive,
        send: Send,
        endpoint: str,
        name: str,
    ) -> None:
        status, _, flush = await self._forward_capturing(scope, body, receive, send)
        if status == 200:
            try:
                if endpoint == "registered-models/rename" and body.get("new_name"):
                    await anyio.to_thread.run_sync(
                        self.owners.rename, REGISTERED_MODEL, name, str(body["new_name"])
                    )
                elif endpoint == "registered-models/delete":
                    await anyio.to_thread.run_sync(self.owners.forget, REGISTERED_MODEL, name)
            except Exception:
                _logger.exception("could not update the owner record of model %r", name)
        await flush()

    # -- browser login (JupyterHub OAuth) -----------------------------------------------------
    @staticmethod
    def _is_browser_page(method: str, path: str, headers: dict[str, str]) -> bool:
        return (
            method == "GET"
            and "text/html" in headers.get("accept", "")
            and "/api/" not in path
            and not path.startswith("/ajax-api")
        )

    @staticmethod
    def _secure(headers: dict[str, str], scope: Scope) -> bool:
        return headers.get("x-forwarded-proto", scope.get("scheme", "http")) == "https"

    async def _start_login(self, scope: Scope, send: Send, public: str) -> None:
        headers = _headers(scope)
        state = secrets.token_urlsafe(24)
        target = public.rstrip("/") + scope["path"]
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        params = {
            "client_id": self.settings.oauth_client_id,
            "redirect_uri": self.settings.oauth_callback_url,
            "response_type": "code",
            "state": state,
        }
        cookie_value = quote(f"{state}|{target}", safe="")
        await _redirect(
            send,
            f"{self.settings.oauth_authorize_url}?{urlencode(params)}",
            [_cookie(STATE_COOKIE, cookie_value, public, self._secure(headers, scope), 600)],
        )

    async def _oauth_callback(self, scope: Scope, send: Send, public: str) -> None:
        headers = _headers(scope)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:
            cookie = SimpleCookie()
        morsel = cookie.get(STATE_COOKIE)
        saved_state, _, target = fully_unquote(morsel.value if morsel else "").partition("|")
        if not saved_state or not secrets.compare_digest(saved_state, query.get("state", "")):
            raise _unauthenticated(
                f"OAuth state mismatch: open {public} again to restart the login"
            )
        code = query.get("code", "")
        if not code:
            raise _unauthenticated("OAuth callback without a code: the hub refused the login")
        try:
            token = await anyio.to_thread.run_sync(
                self.auth.exchange_code,
                code,
                self.settings.oauth_client_id,
                self.settings.oauth_callback_url,
            )
        except HubUnavailable as err:
            raise Denied(503, "TEMPORARILY_UNAVAILABLE", str(err)) from err
        if not token:
            raise _unauthenticated("JupyterHub did not accept the OAuth code: log in again")
        if not target.startswith("/") or target.startswith("//"):
            target = public
        secure = self._secure(headers, scope)
        await _redirect(
            send,
            target,
            [
                _cookie(TOKEN_COOKIE, token, public, secure),
                _cookie(STATE_COOKIE, "", public, secure, 0),
            ],
        )
