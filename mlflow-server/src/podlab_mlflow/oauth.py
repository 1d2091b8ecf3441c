"""Browser login through JupyterHub's OAuth, and the one place the gate redirects to.

A page request without credentials is sent to the hub's authorize endpoint; the state cookie
remembers the page. The callback trades the code for a token (the service token is the client
secret) and sends the browser back. The page it returns to is only ever a path of this service
under its public prefix, rebuilt from parsed parts: no scheme, no host, no backslash, no
control character, nothing a browser could read as another site (`//evil`, `/\\evil`,
`/\\t/evil`), so the callback cannot be used as an open redirect.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import anyio.to_thread

from podlab_mlflow.errors import Send, unauthenticated, unavailable
from podlab_mlflow.hubauth import HubAuthenticator, HubUnavailable
from podlab_mlflow.settings import Settings

Scope = MutableMapping[str, Any]
TOKEN_COOKIE = "podlab-mlflow-token"  # noqa: S105  (a cookie name)
STATE_COOKIE = "podlab-mlflow-oauth-state"
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def headers_of(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def cookie_value(headers: dict[str, str], name: str) -> str | None:
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:
        return None
    morsel = cookie.get(name)
    return morsel.value if morsel and morsel.value else None


def is_browser_page(method: str, path: str, headers: dict[str, str]) -> bool:
    return (
        method == "GET"
        and "text/html" in headers.get("accept", "")
        and "/api/" not in path
        and not path.startswith("/ajax-api")
    )


def safe_target(target: str, public: str) -> str:
    """`target` when it is a path of this service under `public`, else `public` itself."""
    parts = urlsplit(target)
    if (
        _UNSAFE.search(target)
        or parts.scheme
        or parts.netloc
        or parts.fragment
        or not parts.path.startswith(public)
        or "//" in parts.path
        or any(segment in (".", "..") for segment in unquote(parts.path).split("/"))
    ):
        return public
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _cookie(name: str, value: str, path: str, secure: bool, max_age: int | None = None) -> str:
    parts = [f"{name}={value}", f"Path={path}", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


def _secure(headers: dict[str, str], scope: Scope) -> bool:
    return headers.get("x-forwarded-proto", scope.get("scheme", "http")) == "https"


async def _redirect(send: Send, location: str, cookies: list[str]) -> None:
    headers = [(b"location", location.encode()), (b"content-length", b"0")]
    headers += [(b"set-cookie", c.encode()) for c in cookies]
    await send({"type": "http.response.start", "status": 302, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def start_login(scope: Scope, send: Send, public: str, settings: Settings) -> None:
    headers = headers_of(scope)
    state = secrets.token_urlsafe(24)
    target = public.rstrip("/") + quote(scope["path"])
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    params = {
        "client_id": settings.oauth_client_id,
        "redirect_uri": settings.oauth_callback_url,
        "response_type": "code",
        "state": state,
    }
    await _redirect(
        send,
        f"{settings.oauth_authorize_url}?{urlencode(params)}",
        [
            _cookie(
                STATE_COOKIE,
                quote(f"{state}|{safe_target(target, public)}", safe=""),
                public,
                _secure(headers, scope),
                600,
            )
        ],
    )


async def callback(
    scope: Scope, send: Send, public: str, settings: Settings, auth: HubAuthenticator
) -> None:
    headers = headers_of(scope)
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    saved_state, _, target = unquote(cookie_value(headers, STATE_COOKIE) or "").partition("|")
    if not saved_state or not secrets.compare_digest(saved_state, query.get("state", "")):
        raise unauthenticated(f"OAuth state mismatch: open {public} again to restart the login")
    code = query.get("code", "")
    if not code:
        raise unauthenticated("OAuth callback without a code: the hub refused the login")
    try:
        token = await anyio.to_thread.run_sync(
            auth.exchange_code, code, settings.oauth_client_id, settings.oauth_callback_url
        )
    except HubUnavailable as err:
        raise unavailable(str(err)) from err
    if not token:
        raise unauthenticated("JupyterHub did not accept the OAuth code: log in again")
    secure = _secure(headers, scope)
    await _redirect(
        send,
        safe_target(target, public),
        [
            _cookie(TOKEN_COOKIE, token, public, secure),
            _cookie(STATE_COOKIE, "", public, secure, 0),
        ],
    )
