"""The ASGI layer in front of MLflow: canonical path, identity, the rule, then MLflow.

It wraps MLflow's whole application (FastAPI routes and the mounted Flask app alike). For
every request it (1) refuses a path that is not written canonically, (2) finds the endpoint
MLflow will run (`routes`) and its rule (`rules`; none means refused), (3) checks the caller's
hub token and its scopes, (4) parses the body once with MLflow's parser when the rule needs a
value from it (an OTLP span batch with MLflow's OTLP reader, `otlp`), (5) applies the rule
(`authorize`) and (6) forwards exactly what was checked. Reads and artifact transfers stream
through untouched; only the small JSON and span bodies a rule needs are buffered.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from sqlalchemy.exc import DBAPIError

from podlab_mlflow import grants, oauth, otlp
from podlab_mlflow.authorize import Call, Plan, decide
from podlab_mlflow.errors import (
    Denied,
    bad_request,
    forbidden,
    not_found,
    send_denied,
    send_json,
    unauthenticated,
    unavailable,
)
from podlab_mlflow.hubauth import HubAuthenticator, HubRejected, HubUnavailable, HubUser
from podlab_mlflow.messages import flask_request, parse_body
from podlab_mlflow.owners import OwnerStore
from podlab_mlflow.paths import url_path_problem
from podlab_mlflow.routes import Route, RouteIndex
from podlab_mlflow.rules import Access, Rule, reads_body, reads_database, rule_for
from podlab_mlflow.settings import Settings
from podlab_mlflow.storage import ArtifactStore

_logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OTLP_EXPORT = "asgi:otel_api.export_traces"
MAX_JSON_BODY = 64 * 1024 * 1024  # log-batch bodies are small; this bounds a hostile one
# server-info keys that make clients move artifacts directly to/from the bucket.
DIRECT_S3_CAPABILITIES = (
    "multipart_uploads_enabled",
    "multipart_downloads_enabled",
    "presigned_upload_run_id_supported",
    "presigned_upload_model_id_supported",
)


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
    return oauth.cookie_value(headers, oauth.TOKEN_COOKIE)


class PodlabGate:
    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        authenticator: HubAuthenticator,
        owners: OwnerStore,
        routes: RouteIndex,
        store: ArtifactStore,
    ) -> None:
        self.app = app
        self.settings = settings
        self.auth = authenticator
        self.owners = owners
        self.routes = routes
        self.store = store
        self.prefix = settings.service_prefix  # e.g. /services/mlflow/

    # -- entry -------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope, public = self._strip_prefix(scope)
        try:
            try:
                await self._handle(scope, receive, send, public)
            except DBAPIError as err:
                # Only the gate's own lookups reach here (MLflow answers its own errors).
                _logger.error("ownership lookup failed: %s", err)
                raise unavailable("The tracking database is not answering; retry shortly") from err
        except Denied as denied:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await send_denied(send, denied)

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
        method = str(scope.get("method", "GET")).upper()
        path: str = scope["path"]
        raw = scope.get("raw_path")
        if problem := url_path_problem(path, raw if isinstance(raw, bytes) else None):
            raise bad_request(
                f"The request path {path!r} {problem}. podlab's server accepts one spelling of "
                "each path."
            )
        route = None if grants.is_grants_path(path) else self.routes.resolve(method, path)
        rule = rule_for(route.key) if route is not None else None
        if rule is not None and rule.access is Access.PUBLIC:
            await self.app(scope, receive, send)
            return
        if path == "/oauth_callback":
            await oauth.callback(scope, send, public, self.settings, self.auth)
            return
        headers = oauth.headers_of(scope)
        token = token_from_headers(headers)
        if token is None:
            if oauth.is_browser_page(method, path, headers):
                await oauth.start_login(scope, send, public, self.settings)
                return
            raise unauthenticated(
                "No credentials: send 'Authorization: Bearer <JupyterHub API token>' "
                "(in a podlab pod, MLFLOW_TRACKING_TOKEN is already set to your token), or log "
                f"in through JupyterHub at {self.prefix}"
            )
        user = await self._identify(token)
        if grants.is_grants_path(path):
            await self._grants(scope, receive, send, method, path, user)
            return
        if route is None:
            raise Denied(
                404,
                "ENDPOINT_NOT_FOUND",
                f"No MLflow endpoint answers {method} {path}; check the URL and method",
            )
        if rule is None:
            raise forbidden(
                f"{method} {route.template} is not enabled on podlab's MLflow server (no rule "
                "in podlab_mlflow/rules.py); ask an administrator if you need it"
            )
        await self._apply(scope, receive, send, route, rule, user)

    async def _identify(self, token: str) -> HubUser:
        if not token:
            raise unauthenticated("The Authorization header is not 'Bearer <token>'")
        try:
            user = await self.auth.identify(token)
        except HubUnavailable as err:
            _logger.error("token check failed: %s", err)
            raise unavailable(
                "JupyterHub, which checks tokens, is not answering; retry shortly"
            ) from err
        except HubRejected as err:
            raise forbidden(str(err)) from err
        if user is None:
            raise unauthenticated(
                "The token was not accepted by JupyterHub (unknown, expired or revoked): "
                "create a new one in the hub's Token page or restart your server"
            )
        if not user.may_use_mlflow:
            raise forbidden(
                f"This token of {user.name!r} may not be used for MLflow: it lacks the scope "
                "access:services!service=mlflow. Use your server's JUPYTERHUB_API_TOKEN (set as "
                "MLFLOW_TRACKING_TOKEN in podlab pods) or create a token with that scope on the "
                "hub's Token page."
            )
        return user

    # -- the rule ----------------------------------------------------------------------------
    async def _apply(
        self, scope: Scope, receive: Receive, send: Send, route: Route, rule: Rule, user: HubUser
    ) -> None:
        method = str(scope.get("method", "GET")).upper()
        if method == "OPTIONS" or (
            rule.access is Access.SIGNED_IN and rule.artifact is None and not rule.direct_storage
        ):
            await self.app(scope, receive, send)  # reads and open writes: stream straight on
            return
        if rule.access is Access.SERVER_INFO and not self.settings.presigned_urls:
            await self._server_info_without_direct_s3(scope, receive, send)
            return
        body: bytes | None = None
        message = None
        trace_ids: tuple[str, ...] = ()
        if reads_body(rule) and route.message is not None and method not in ("GET", "HEAD"):
            body, receive = await self._read_body(receive)
        elif route.key == OTLP_EXPORT:
            body, receive = await self._read_body(receive)
            headers = oauth.headers_of(scope)
            trace_ids = await anyio.to_thread.run_sync(  # parsing a batch is CPU work
                otlp.trace_ids,
                body,
                headers.get("content-type", ""),
                headers.get("content-encoding", ""),
            )
        request = flask_request(
            method, scope["headers"], scope.get("query_string", b""), body or b""
        )
        if body is not None and route.message is not None:
            message = parse_body(route.message, request, body)
        call = Call(route, rule, user, message, request, self.settings.presigned_urls, trace_ids)
        if reads_database(rule):
            plan = await anyio.to_thread.run_sync(decide, call, self.owners)
        else:
            plan = decide(call, self.owners)
        await self._forward(scope, receive, send, rule, plan, body, user.name)

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        rule: Rule,
        plan: Plan,
        body: bytes | None,
        caller: str,
    ) -> None:
        if plan.body is not None:
            scope, receive = self._with_body(scope, plan.body, receive)
        elif body is not None:
            receive = self._replay(body, receive)
        if plan.record or plan.renamed or plan.deleted or plan.owned:
            await self._forward_and_record(scope, receive, send, plan, caller)
        elif (
            rule.access is Access.ARTIFACT_READ
            and plan.artifact_key is not None
            and rule.artifact is not None
            and not rule.artifact.listing
        ):
            await self._forward_read(scope, receive, send, plan.artifact_key)
        else:
            await self.app(scope, receive, send)

    async def _grants(
        self, scope: Scope, receive: Receive, send: Send, method: str, path: str, user: HubUser
    ) -> None:
        raw, _ = await self._read_body(receive)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        status, payload = await anyio.to_thread.run_sync(
            grants.handle, method, path, query, raw, user, self.owners
        )
        await send_json(send, status, payload, {})

    # -- bodies ------------------------------------------------------------------------------
    async def _read_body(self, receive: Receive) -> tuple[bytes, Receive]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Denied(400, "BAD_REQUEST", "client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_JSON_BODY:
                raise Denied(
                    413,
                    "REQUEST_LIMIT_EXCEEDED",
                    f"request body larger than {MAX_JSON_BODY} bytes: send smaller batches",
                )
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), receive

    @staticmethod
    def _replay(payload: bytes, receive: Receive) -> Receive:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": payload, "more_body": False}
            return await receive()

        return replay

    def _with_body(self, scope: Scope, payload: bytes, receive: Receive) -> tuple[Scope, Receive]:
        scope = dict(scope)
        scope["headers"] = [
            (k, v)
            for k, v in scope["headers"]
            if k.lower() not in (b"content-length", b"transfer-encoding", b"content-encoding")
        ] + [(b"content-length", str(len(payload)).encode())]
        return scope, self._replay(payload, receive)

    # -- around MLflow -----------------------------------------------------------------------
    async def _capture(self, scope: Scope, receive: Receive) -> tuple[int, bytes, list[Message]]:
        """Run MLflow, holding its (small JSON) response until the gate has acted on it."""
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, capture)
        status = next(
            (int(m["status"]) for m in messages if m["type"] == "http.response.start"), 500
        )
        payload = b"".join(
            m.get("body", b"") for m in messages if m["type"] == "http.response.body"
        )
        return status, payload, messages

    async def _forward_and_record(
        self, scope: Scope, receive: Receive, send: Send, plan: Plan, caller: str
    ) -> None:
        status, payload, messages = await self._capture(scope, receive)
        if status == 200:
            try:
                await anyio.to_thread.run_sync(self._after_success, plan, payload, caller)
            except Exception:
                _logger.exception("could not update podlab's ownership records")
        for message in messages:
            await send(message)

    def _after_success(self, plan: Plan, payload: bytes, caller: str) -> None:
        if plan.record is not None:
            kind, path = plan.record
            value: Any = json.loads(payload)
            for step in path:
                value = value[step]
            self.owners.record(kind, str(value), caller)
        for kind, key in plan.owned:
            self.owners.record(kind, key, caller)
        if plan.renamed is not None:
            self.owners.rename("registered_model", *plan.renamed)
        if plan.deleted is not None:
            self.owners.forget("registered_model", plan.deleted)

    async def _forward_read(self, scope: Scope, receive: Receive, send: Send, key: str) -> None:
        """Stream a download; when MLflow fails on it, answer 404 if the artifact is missing."""
        held: list[Message] = []
        state = {"failed": False, "started": False}

        async def guard(message: Message) -> None:
            if message["type"] == "http.response.start":
                if int(message["status"]) >= 500:
                    state["failed"] = True
                else:
                    state["started"] = True
            if state["failed"]:
                held.append(message)
            else:
                await send(message)

        error: Exception | None = None
        try:
            await self.app(scope, receive, guard)
        except Exception as err:
            if state["started"]:
                raise
            state["failed"], error = True, err
        if not state["failed"]:
            return
        if not await anyio.to_thread.run_sync(self.store.exists, key):
            raise not_found(
                f"No artifact at {key!r}: it was never uploaded or has been deleted. List the "
                "folder (mlflow.artifacts.list_artifacts) to see what is there."
            )
        if error is not None:
            raise error
        for message in held:
            await send(message)

    async def _server_info_without_direct_s3(
        self, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Tell clients to keep artifacts on the proxied path (no presigned bucket URLs)."""
        status, payload, messages = await self._capture(scope, receive)
        if status != 200:
            for message in messages:
                await send(message)
            return
        info = json.loads(payload)
        for key in DIRECT_S3_CAPABILITIES:
            if key in info:
                info[key] = False
        await send_json(send, 200, info, {})
