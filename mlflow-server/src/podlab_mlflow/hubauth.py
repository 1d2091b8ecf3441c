"""Who is calling, and what their token allows: a JupyterHub token resolved by the hub, cached.

The token is checked with the hub's `GET /hub/api/user` *using the token itself*: every hub
token may identify its owner, and the answer lists the scopes of *that token*. A token is
accepted for MLflow only when those scopes include `access:services!service=mlflow` (or all
of `access:services`): the scope JupyterHub puts on the OAuth tokens it issues to this service,
and the one podlab's user role, user pods' tokens and admins' tokens carry. A token issued for
another service or with narrower scopes is refused. MLflow admin power comes from the token's
own scopes too (`custom:mlflow-admin`), never from the user's admin flag alone, so a narrow
token of an admin stays narrow. The server's own service token serves only as the OAuth
client secret for browser logins.

Results are cached by the token's SHA-256 (never the token) for a short TTL, so a revoked token
stops working within that TTL; bad tokens are cached briefly too, so garbage cannot make every
request a hub round trip.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import requests
from cachetools import TLRUCache

_logger = logging.getLogger(__name__)

NEGATIVE_TTL = 5.0
MAX_ENTRIES = 10_000
HUB_TIMEOUT = 10.0


SERVICE_NAME = "mlflow"
ACCESS_SCOPES = frozenset({f"access:services!service={SERVICE_NAME}", "access:services"})
ADMIN_SCOPE = "custom:mlflow-admin"
"""The scope that makes a token an MLflow admin token; podlab.mlflow_service grants it."""


@dataclass(frozen=True)
class HubUser:
    name: str
    scopes: frozenset[str]

    @property
    def may_use_mlflow(self) -> bool:
        return not ACCESS_SCOPES.isdisjoint(self.scopes)

    @property
    def admin(self) -> bool:
        return ADMIN_SCOPE in self.scopes


class HubUnavailable(RuntimeError):
    """The hub could not answer; the request fails with 503 and the client retries."""


class HubRejected(RuntimeError):
    """The hub knows the token but it may not be used here (e.g. a service's token)."""


class TokenCache:
    """Token digest -> user or None, each for its own TTL, at most max_entries (least recently
    used go first): cachetools' TLRUCache, behind a lock as the gate serves from threads."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: TLRUCache[bytes, tuple[HubUser | None, float]] = TLRUCache(
            max_entries, ttu=_expiry, timer=time.monotonic
        )
        self._lock = threading.Lock()

    def get(self, key: bytes) -> tuple[bool, HubUser | None]:
        with self._lock:
            entry = self._entries.get(key)
        return (False, None) if entry is None else (True, entry[0])

    def put(self, key: bytes, user: HubUser | None, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (user, ttl)


def _expiry(_key: bytes, value: tuple[HubUser | None, float], now: float) -> float:
    return now + value[1]


class HubAuthenticator:
    def __init__(self, api_url: str, service_token: str, ttl: float) -> None:
        self.api_url = api_url.rstrip("/")
        self.service_token = service_token
        self.ttl = ttl
        self.cache = TokenCache()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    async def identify(self, token: str) -> HubUser | None:
        """The token's user, or None when the hub does not accept the token."""
        key = hashlib.sha256(token.encode()).digest()
        hit, user = self.cache.get(key)
        if hit:
            return user
        user = await anyio.to_thread.run_sync(self._fetch_user, token)
        self.cache.put(key, user, self.ttl if user else min(self.ttl, NEGATIVE_TTL))
        return user

    def _fetch_user(self, token: str) -> HubUser | None:
        try:
            response = self._session().get(
                f"{self.api_url}/user",
                headers={"Authorization": f"token {token}", "Accept": "application/json"},
                timeout=HUB_TIMEOUT,
            )
        except requests.RequestException as err:
            raise HubUnavailable(f"JupyterHub API {self.api_url} unreachable: {err}") from err
        if response.status_code in (401, 403):
            return None
        if response.status_code != 200:
            raise HubUnavailable(
                f"JupyterHub API {self.api_url}/user answered {response.status_code}"
            )
        model: dict[str, Any] = response.json()
        if model.get("kind", "user") != "user":
            raise HubRejected(
                f"a token of the hub {model.get('kind')} {model.get('name')!r} was sent; "
                "MLflow accepts the tokens of hub users only"
            )
        scopes = model.get("scopes")
        if not isinstance(scopes, list):
            raise HubUnavailable(
                f"JupyterHub API {self.api_url}/user did not list the token's scopes "
                "(JupyterHub 3 or newer is required)"
            )
        return HubUser(name=str(model["name"]), scopes=frozenset(str(s) for s in scopes))

    def exchange_code(self, code: str, client_id: str, redirect_uri: str) -> str:
        """OAuth: trade an authorization code for the browser user's access token."""
        try:
            response = self._session().post(
                f"{self.api_url}/oauth2/token",
                data={
                    "client_id": client_id,
                    "client_secret": self.service_token,
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                },
                headers={"Accept": "application/json"},
                timeout=HUB_TIMEOUT,
            )
        except requests.RequestException as err:
            raise HubUnavailable(f"JupyterHub API {self.api_url} unreachable: {err}") from err
        if response.status_code != 200:
            _logger.warning(
                "OAuth code exchange failed: %s %s", response.status_code, response.text
            )
            return ""
        return str(response.json().get("access_token", ""))
