"""Server settings from the environment, checked once at startup.

The chart injects everything as environment variables (the database password from a Secret),
so a bad value must stop `podlab-mlflow` at once with a message naming the variable, instead of
a worker crashing later on its first request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

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


def _check_int(name: str, low: int, high: int, value: Any) -> int:
    if isinstance(value, int):
        number = value
    else:
        try:
            number = int(str(value))
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not a whole number ({low}..{high})") from None
    if not low <= number <= high:
        raise ConfigError(f"{name}={number} is out of range: use {low}..{high}")
    return number


def _bounded(name: str, low: int, high: int) -> BeforeValidator:
    """A whole number in low..high, refused with a message naming the variable."""
    return BeforeValidator(lambda value: _check_int(name, low, high, value))


def _comma_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return tuple(value)


class Settings(BaseSettings):
    """Every setting, read from the environment by pydantic-settings (each field's alias is its
    variable); the validators keep podlab's messages, which name the variable and the fix."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=True)

    # The password first: the URL's validator adds it.
    database_password: str = Field("", alias="PODLAB_MLFLOW_DATABASE_PASSWORD", repr=False)
    database_url: str = Field("", alias="PODLAB_MLFLOW_DATABASE_URL", validate_default=True)
    artifacts_destination: str = Field(
        "", alias="PODLAB_MLFLOW_ARTIFACTS_DESTINATION", validate_default=True
    )
    # A server in a pod listens on all interfaces.
    host: str = Field("0.0.0.0", alias="PODLAB_MLFLOW_HOST")  # noqa: S104
    port: Annotated[int, _bounded("PODLAB_MLFLOW_PORT", 1, 65535)] = Field(
        DEFAULT_PORT, alias="PODLAB_MLFLOW_PORT"
    )
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (), alias="PODLAB_MLFLOW_ALLOWED_HOSTS"
    )
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), alias="PODLAB_MLFLOW_ALLOWED_ORIGINS"
    )
    workers: Annotated[int, _bounded("PODLAB_MLFLOW_WORKERS", 1, MAX_WORKERS * 4)] = Field(
        default_factory=lambda: default_workers(), alias="PODLAB_MLFLOW_WORKERS"
    )
    db_pool_size: Annotated[int, _bounded("PODLAB_MLFLOW_DB_POOL_SIZE", 1, MAX_POOL_SIZE)] = Field(
        DEFAULT_POOL_SIZE, alias="PODLAB_MLFLOW_DB_POOL_SIZE"
    )
    db_max_overflow: int = Field(-1, alias="PODLAB_MLFLOW_DB_MAX_OVERFLOW", validate_default=True)
    """The pool size unless set."""
    token_cache_ttl: float = Field(DEFAULT_TOKEN_CACHE_TTL, alias="PODLAB_MLFLOW_TOKEN_CACHE_TTL")
    hub_api_url: str = Field("", alias="JUPYTERHUB_API_URL")
    hub_api_token: str = Field("", alias="JUPYTERHUB_API_TOKEN", repr=False)
    service_prefix: str = Field(
        f"/services/{SERVICE_NAME}/", alias="JUPYTERHUB_SERVICE_PREFIX", validate_default=True
    )
    hub_base_url: str = Field("/", alias="JUPYTERHUB_BASE_URL")
    hub_host: str = Field("", alias="JUPYTERHUB_HOST")
    oauth_client_id: str = Field(f"service-{SERVICE_NAME}", alias="JUPYTERHUB_CLIENT_ID")
    oauth_callback_url: str = Field(
        "", alias="JUPYTERHUB_OAUTH_CALLBACK_URL", validate_default=True
    )
    """The service prefix's oauth_callback unless set."""
    s3_endpoint_url: str = Field(
        "", validation_alias=AliasChoices("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
    )
    presigned_urls: bool = Field(False, alias="PODLAB_MLFLOW_PRESIGNED_URLS")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str, info: ValidationInfo) -> str:
        return normalize_database_url(value, info.data.get("database_password") or None)

    @field_validator("artifacts_destination")
    @classmethod
    def _artifacts_destination(cls, value: str) -> str:
        return artifacts_destination(value)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _allowed_hosts(cls, value: Any) -> Any:
        names = _comma_list(value)
        for name in names:
            if not _HOSTNAME.match(name):
                raise ConfigError(
                    f"PODLAB_MLFLOW_ALLOWED_HOSTS: {name!r} is not a host name (comma-separated "
                    "names such as mlflow,mlflow.podlab.svc.cluster.local,podlab.example.com)"
                )
        return names

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _allowed_origins(cls, value: Any) -> Any:
        origins = tuple(origin.rstrip("/") for origin in _comma_list(value))
        for origin in origins:
            if not _ORIGIN.match(origin):
                raise ConfigError(
                    f"PODLAB_MLFLOW_ALLOWED_ORIGINS: {origin!r} is not an origin (comma-separated "
                    "scheme://host[:port] of the URLs users open, e.g. https://podlab.example.com)"
                )
        return origins

    @field_validator("db_max_overflow", mode="before")
    @classmethod
    def _max_overflow(cls, value: Any, info: ValidationInfo) -> Any:
        if value == -1:  # the default: not set
            return info.data.get("db_pool_size", DEFAULT_POOL_SIZE)
        return _check_int("PODLAB_MLFLOW_DB_MAX_OVERFLOW", 0, MAX_POOL_SIZE, value)

    @field_validator("token_cache_ttl", mode="before")
    @classmethod
    def _token_cache_ttl(cls, value: Any) -> Any:
        try:
            ttl = float(value)
        except ValueError:
            raise ConfigError(f"PODLAB_MLFLOW_TOKEN_CACHE_TTL={value!r} is not seconds") from None
        if not 0 <= ttl <= MAX_TOKEN_CACHE_TTL:
            raise ConfigError(
                f"PODLAB_MLFLOW_TOKEN_CACHE_TTL={ttl} is out of range: "
                f"use 0..{MAX_TOKEN_CACHE_TTL:.0f}"
            )
        return ttl

    @field_validator("hub_api_url", "hub_host")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("service_prefix", "hub_base_url")
    @classmethod
    def _url_path(cls, value: str, info: ValidationInfo) -> str:
        return _prefix(value, str(cls.model_fields[str(info.field_name)].alias))

    @field_validator("oauth_callback_url")
    @classmethod
    def _callback(cls, value: str, info: ValidationInfo) -> str:
        return value or f"{info.data.get('service_prefix', '/')}oauth_callback"

    @field_validator("presigned_urls", mode="before")
    @classmethod
    def _presigned(cls, value: Any, info: ValidationInfo) -> Any:
        text = str(value).lower()
        if text not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"PODLAB_MLFLOW_PRESIGNED_URLS={text!r}: use true or false")
        destination = info.data.get("artifacts_destination", "")
        if text in ("true", "1", "yes") and not destination.startswith("s3://"):
            raise ConfigError(
                "PODLAB_MLFLOW_PRESIGNED_URLS=true needs an s3:// artifacts destination: "
                f"{destination} is a local directory (only MLflow can serve it)"
            )
        return text in ("true", "1", "yes")

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
    source = _Environment(Settings, os.environ if env is None else env)
    try:
        # BaseSettings' own parameter; mypy types __init__ from the fields alone.
        settings = Settings(_build_sources=((source,), {}))  # type: ignore[call-arg]
    except ValidationError as err:
        raise _first_error(err) from None
    if require_hub and not settings.hub_api_url:
        raise ConfigError(
            "JUPYTERHUB_API_URL is not set: set it to the hub API, e.g. "
            "http://hub:8081/hub/api (every request is authenticated against it)"
        )
    if require_hub and not settings.hub_api_token:
        raise ConfigError(
            "JUPYTERHUB_API_TOKEN is not set: set it to the api_token of the hub service "
            f"{SERVICE_NAME!r} (from the chart's Secret)"
        )
    return settings


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (tests pass their own)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        """Only our variables, stripped; blank ones count as unset (the chart renders optional
        values as empty strings). The password is taken as written."""
        found: dict[str, str | None] = {}
        for key, value in self._environ.items():
            if key in _VARIABLES:
                value = value if key == _PASSWORD else value.strip()
                if value.strip():
                    found[key] = value
        return found


def _first_error(err: ValidationError) -> ConfigError:
    """Our validators' own ConfigError, else pydantic's message with the variable's name."""
    problem = err.errors()[0]
    cause = problem.get("ctx", {}).get("error")
    if isinstance(cause, ConfigError):
        return cause
    where = ".".join(str(part) for part in problem["loc"])
    return ConfigError(f"{where}: {problem['msg']} (got {problem.get('input')!r})")


_PASSWORD = "PODLAB_MLFLOW_DATABASE_PASSWORD"  # noqa: S105 (a variable name)
_VARIABLES: set[str] = set()
for _field in Settings.model_fields.values():
    _names = (
        _field.validation_alias.choices
        if isinstance(_field.validation_alias, AliasChoices)
        else [_field.alias]
    )
    _VARIABLES.update(name for name in _names if isinstance(name, str))
