"""Server settings from the environment, checked once at startup.

The chart injects everything as environment variables (the database password from a Secret),
so a bad value must stop `podlab-mlflow` at once with a message naming the variable, instead of
a worker crashing later on its first request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 5000
MAX_WORKERS = 8
DEFAULT_POOL_SIZE = 5
MAX_POOL_SIZE = 20
DEFAULT_TOKEN_CACHE_TTL = 30.0
MAX_TOKEN_CACHE_TTL = 300.0
SERVICE_NAME = "mlflow"
_HOSTNAME = re.compile(r"^[A-Za-z0-9*]([A-Za-z0-9.*-]*[A-Za-z0-9*])?(:[0-9*]+)?$")
_ORIGIN = re.compile(r"^https?://(?P<host>[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:[0-9]{1,5})?$")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable and the fix."""


_S3_LOCATION = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")


def artifacts_destination(value: str) -> str:
    """s3://BUCKET/PREFIX, or an existing writable directory (a mounted volume).

    A directory must already exist: a typo'd path would otherwise be created inside the
    container's own filesystem, and every artifact would vanish with the pod.
    """
    destination = value.strip()
    if not destination:
        raise ConfigError(
            "PODLAB_MLFLOW_ARTIFACTS_DESTINATION is not set: set it to s3://BUCKET/PREFIX "
            "or to the directory of a mounted volume"
        )
    if destination.startswith("s3://"):
        destination = destination.rstrip("/")
        if not _S3_LOCATION.match(destination):
            raise ConfigError(
                f"PODLAB_MLFLOW_ARTIFACTS_DESTINATION={destination!r} is not an S3 location: "
                "write s3://BUCKET/PREFIX"
            )
        return destination
    path = Path(destination.removeprefix("file://"))
    if ("://" in destination and not destination.startswith("file://")) or not path.is_absolute():
        raise ConfigError(
            f"PODLAB_MLFLOW_ARTIFACTS_DESTINATION={destination!r} is neither an S3 location "
            "nor an absolute directory: write s3://BUCKET/PREFIX or /path/of/a/volume"
        )
    if not path.is_dir():
        raise ConfigError(
            f"PODLAB_MLFLOW_ARTIFACTS_DESTINATION={destination!r}: {path} is not a directory; "
            "mount the artifacts volume there (nothing is created, so no artifact lands on the "
            "container's own disk)"
        )
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(
            f"PODLAB_MLFLOW_ARTIFACTS_DESTINATION={destination!r}: {path} is not writable by "
            f"uid {os.getuid()}; give the volume that owner or group (the chart sets fsGroup)"
        )
    return str(path)  # pathlib already drops a trailing slash


@dataclass(frozen=True)
class Settings:
    database_url: str
    artifacts_destination: str
    host: str = "0.0.0.0"  # noqa: S104  (a server in a pod listens on all interfaces)
    port: int = DEFAULT_PORT
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    workers: int = 1
    db_pool_size: int = DEFAULT_POOL_SIZE
    db_max_overflow: int = DEFAULT_POOL_SIZE
    hub_api_url: str = ""
    hub_api_token: str = field(default="", repr=False)
    service_prefix: str = "/services/mlflow/"
    hub_base_url: str = "/"
    hub_host: str = ""
    oauth_client_id: str = "service-mlflow"
    oauth_callback_url: str = ""
    token_cache_ttl: float = DEFAULT_TOKEN_CACHE_TTL
    s3_endpoint_url: str = ""
    presigned_urls: bool = False

    @property
    def oauth_authorize_url(self) -> str:
        """Browser-facing authorize URL (relative to the proxy when the hub host is unset)."""
        return f"{self.hub_host}{self.hub_base_url}hub/api/oauth2/authorize"

    @property
    def mlflow_allowed_hosts(self) -> str:
        """The value of MLflow's --allowed-hosts: each name with and without any port.

        The host of every allowed origin is included: a browser on the public URL sends it
        as `Host:` through the hub's proxy.
        """
        names: list[str] = []
        origin_hosts = [o.split("://", 1)[1].split(":")[0] for o in self.allowed_origins]
        for name in (*self.allowed_hosts, *origin_hosts, "localhost", "127.0.0.1"):
            for pattern in (name, f"{name}:*") if ":" not in name else (name,):
                if pattern not in names:
                    names.append(pattern)
        return ",".join(names)


def normalize_database_url(url: str, password: str | None = None) -> str:
    """A psycopg2 SQLAlchemy URL, with the password from its own variable if given.

    SQLAlchemy 2.1 maps a bare `postgresql://` to psycopg 3, which the image does not ship, so
    the driver is spelled out here rather than trusting every values file to do it.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not url:
        raise ConfigError(
            "PODLAB_MLFLOW_DATABASE_URL is not set: set it to "
            "postgresql+psycopg2://USER@HOST:5432/DATABASE (the password may come from "
            "PODLAB_MLFLOW_DATABASE_PASSWORD)"
        )
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg2://" + url[len(prefix) :]
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise ConfigError(f"PODLAB_MLFLOW_DATABASE_URL is not a database URL: {err}") from err
    if parsed.drivername != "postgresql+psycopg2":
        raise ConfigError(
            f"PODLAB_MLFLOW_DATABASE_URL uses {parsed.drivername!r}; podlab's MLflow server "
            "supports PostgreSQL only: write postgresql+psycopg2://USER@HOST:5432/DATABASE"
        )
    if not parsed.database:
        raise ConfigError("PODLAB_MLFLOW_DATABASE_URL names no database: add /DATABASE")
    if password:
        parsed = parsed.set(password=password)
    return parsed.render_as_string(hide_password=False)


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number ({low}..{high})") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range: use {low}..{high}")
    return value


def cpu_count() -> int:
    """CPUs this process may use: the cgroup quota (a pod's limit), else the affinity mask."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            return max(1, int(int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    return max(1, min(cpu_count(), MAX_WORKERS))


def _prefix(value: str, name: str) -> str:
    value = value.strip() or "/"
    if not value.startswith("/"):
        raise ConfigError(f"{name}={value!r} must be a URL path starting with '/'")
    return value if value.endswith("/") else value + "/"


def load_settings(env: Mapping[str, str] | None = None, *, require_hub: bool = True) -> Settings:
    """Read and validate every setting; raise ConfigError naming the first bad one."""
    env = os.environ if env is None else env
    database_url = normalize_database_url(
        env.get("PODLAB_MLFLOW_DATABASE_URL", "").strip(),
        env.get("PODLAB_MLFLOW_DATABASE_PASSWORD") or None,
    )
    destination = artifacts_destination(env.get("PODLAB_MLFLOW_ARTIFACTS_DESTINATION", ""))
    allowed = tuple(
        name.strip()
        for name in env.get("PODLAB_MLFLOW_ALLOWED_HOSTS", "").split(",")
        if name.strip()
    )
    for name in allowed:
        if not _HOSTNAME.match(name):
            raise ConfigError(
                f"PODLAB_MLFLOW_ALLOWED_HOSTS: {name!r} is not a host name (comma-separated "
                "names such as mlflow,mlflow.podlab.svc.cluster.local,podlab.example.com)"
            )
    origins = tuple(
        origin.strip().rstrip("/")
        for origin in env.get("PODLAB_MLFLOW_ALLOWED_ORIGINS", "").split(",")
        if origin.strip()
    )
    for origin in origins:
        if not _ORIGIN.match(origin):
            raise ConfigError(
                f"PODLAB_MLFLOW_ALLOWED_ORIGINS: {origin!r} is not an origin (comma-separated "
                "scheme://host[:port] of the URLs users open, e.g. https://podlab.example.com)"
            )
    workers = _int(env, "PODLAB_MLFLOW_WORKERS", default_workers(), 1, MAX_WORKERS * 4)
    pool = _int(env, "PODLAB_MLFLOW_DB_POOL_SIZE", DEFAULT_POOL_SIZE, 1, MAX_POOL_SIZE)
    overflow = _int(env, "PODLAB_MLFLOW_DB_MAX_OVERFLOW", pool, 0, MAX_POOL_SIZE)
    port = _int(env, "PODLAB_MLFLOW_PORT", DEFAULT_PORT, 1, 65535)
    ttl_raw = env.get("PODLAB_MLFLOW_TOKEN_CACHE_TTL", "").strip()
    try:
        ttl = float(ttl_raw) if ttl_raw else DEFAULT_TOKEN_CACHE_TTL
    except ValueError:
        raise ConfigError(f"PODLAB_MLFLOW_TOKEN_CACHE_TTL={ttl_raw!r} is not seconds") from None
    if not 0 <= ttl <= MAX_TOKEN_CACHE_TTL:
        raise ConfigError(
            f"PODLAB_MLFLOW_TOKEN_CACHE_TTL={ttl} is out of range: use 0..{MAX_TOKEN_CACHE_TTL:.0f}"
        )
    hub_api_url = env.get("JUPYTERHUB_API_URL", "").strip().rstrip("/")
    hub_token = env.get("JUPYTERHUB_API_TOKEN", "").strip()
    if require_hub and not hub_api_url:
        raise ConfigError(
            "JUPYTERHUB_API_URL is not set: set it to the hub API, e.g. "
            "http://hub:8081/hub/api (every request is authenticated against it)"
        )
    if require_hub and not hub_token:
        raise ConfigError(
            "JUPYTERHUB_API_TOKEN is not set: set it to the api_token of the hub service "
            f"{SERVICE_NAME!r} (from the chart's Secret)"
        )
    service_prefix = _prefix(
        env.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{SERVICE_NAME}/"),
        "JUPYTERHUB_SERVICE_PREFIX",
    )
    presigned = env.get("PODLAB_MLFLOW_PRESIGNED_URLS", "false").strip().lower()
    if presigned not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"PODLAB_MLFLOW_PRESIGNED_URLS={presigned!r}: use true or false")
    if presigned in ("true", "1", "yes") and not destination.startswith("s3://"):
        raise ConfigError(
            "PODLAB_MLFLOW_PRESIGNED_URLS=true needs an s3:// artifacts destination: "
            f"{destination} is a local directory (only MLflow can serve it)"
        )
    return Settings(
        database_url=database_url,
        presigned_urls=presigned in ("true", "1", "yes"),
        artifacts_destination=destination,
        host=env.get("PODLAB_MLFLOW_HOST", "").strip() or "0.0.0.0",  # noqa: S104
        port=port,
        allowed_hosts=allowed,
        allowed_origins=origins,
        workers=workers,
        db_pool_size=pool,
        db_max_overflow=overflow,
        hub_api_url=hub_api_url,
        hub_api_token=hub_token,
        service_prefix=service_prefix,
        hub_base_url=_prefix(env.get("JUPYTERHUB_BASE_URL", "/"), "JUPYTERHUB_BASE_URL"),
        hub_host=env.get("JUPYTERHUB_HOST", "").strip().rstrip("/"),
        oauth_client_id=env.get("JUPYTERHUB_CLIENT_ID", "").strip() or f"service-{SERVICE_NAME}",
        oauth_callback_url=env.get("JUPYTERHUB_OAUTH_CALLBACK_URL", "").strip()
        or f"{service_prefix}oauth_callback",
        token_cache_ttl=ttl,
        s3_endpoint_url=(
            env.get("MLFLOW_S3_ENDPOINT_URL", "").strip()
            or env.get("AWS_ENDPOINT_URL_S3", "").strip()
        ),
    )
