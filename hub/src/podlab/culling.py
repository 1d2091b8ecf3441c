"""Idle culling with per-profile limits: jupyterhub-idle-culler plus podlab's arbiter.

The culler runs as a hub-managed service (`culler_service()` / `culler_role()` go into
`c.JupyterHub.services` / `c.JupyterHub.load_roles`). It is started as `python -m
podlab.culling`, which loads the same podlab config (`PODLAB_CONFIG`) and hands the stock
`IdleCuller` a `cull_arbiter_hook` that applies each profile's `idle_timeout` and `max_age`.

How the hook learns a server's profile: from the server model's `user_options["profile"]`
(the culler's `read:servers` scope includes `user_options`; both spawners store the chosen
slug there, KubeSpawner's profile form included). A server started without options runs the
default profile, so the default profile's limits apply; a slug no longer in the config (an
admin removed the profile while the server ran) gets `culling.default_idle_timeout` and no
max age, and a log line.

The culler's global `--max-age` is 0: max age is per profile, decided in the hook. The culler
can never delete a user or a home volume: `--cull-users` and `--remove-named-servers` are
forced off, and its role lacks `admin:users` (needed to delete users) — stopping a server is
all it can do, and neither spawner deletes the home on stop (KubeSpawner's `delete_pvc=False`).

Activity that the hub cannot see (silent kernels, exec/VS Code sessions, GPU use) reaches
`last_activity` through the activity reporter inside the server (`podlab.activity`).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from podlab.config import ConfigError, PodlabConfig, load_config
from podlab.profiles import PROFILE_KEY

SERVICE_NAME = "idle-culler"
ROLE_NAME = "podlab-idle-culler"
CULLER_SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
"""What the culler needs, and no more: without `admin:users` it cannot delete users."""

log = logging.getLogger("podlab.culling")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Limits:
    profile: str
    idle_timeout: int
    max_age: int | None


@dataclass(frozen=True)
class Decision:
    cull: bool
    reason: str


class CullPolicy:
    """Per-profile idle timeout and max age; callable as the culler's `cull_arbiter_hook`."""

    def __init__(self, config: PodlabConfig, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.clock = clock

    def limits_for(self, server: Mapping[str, Any]) -> Limits:
        options = server.get("user_options") or {}
        slug = options.get(PROFILE_KEY) if isinstance(options, Mapping) else None
        if not slug:
            profile = self.config.default_profile
        else:
            found = next((p for p in self.config.profiles if p.slug == slug), None)
            if found is None:
                log.warning(
                    "server %s runs profile %r, which is no longer configured: using "
                    "culling.default_idle_timeout",
                    server.get("full_name", "?"),
                    slug,
                )
                return Limits(str(slug), self.config.culling.default_idle_timeout, None)
            profile = found
        return Limits(profile.slug, self.config.idle_timeout_for(profile), profile.max_age)

    def decide(self, inactive: timedelta | None, server: Mapping[str, Any]) -> Decision:
        limits = self.limits_for(server)
        started = _parse_time(server.get("started"))
        if limits.max_age is not None and started is not None:
            age = (self.clock() - started).total_seconds()
            if age >= limits.max_age:
                return Decision(
                    True,
                    f"profile {limits.profile}: age {age:.0f}s >= max_age {limits.max_age}s",
                )
        if inactive is None:
            return Decision(False, "no activity information yet")
        idle = inactive.total_seconds()
        if idle >= limits.idle_timeout:
            return Decision(
                True,
                f"profile {limits.profile}: idle {idle:.0f}s >= idle_timeout "
                f"{limits.idle_timeout}s",
            )
        return Decision(
            False,
            f"profile {limits.profile}: idle {idle:.0f}s < idle_timeout {limits.idle_timeout}s",
        )

    def __call__(
        self,
        *,
        inactive: timedelta | None,
        inactive_limit: int,
        server: Mapping[str, Any],
        **_: Any,
    ) -> bool:
        decision = self.decide(inactive, server)
        if decision.cull:
            log.info("cull %s: %s", server.get("full_name", "?"), decision.reason)
        return decision.cull


# -- hub configuration ---------------------------------------------------------------------------
def culler_service(
    config: PodlabConfig,
    config_path: str,
    *,
    python: str = sys.executable,
    url: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The `c.JupyterHub.services` entry (hub-managed: the hub starts and stops it)."""
    culling = config.culling
    command = [
        python,
        "-m",
        "podlab.culling",
        f"--timeout={culling.default_idle_timeout}",
        f"--cull-every={culling.check_every}",
        "--max-age=0",
        "--cull-users=False",
        "--remove-named-servers=False",
    ]
    if url:
        command.append(f"--url={url}")
    env = {"PODLAB_CONFIG": config_path, "PYTHONUNBUFFERED": "1"}
    env.update(environment or {})
    return {"name": SERVICE_NAME, "command": command, "environment": env}


def culler_role() -> dict[str, Any]:
    return {
        "name": ROLE_NAME,
        "description": "podlab idle culler: stop idle servers (never delete users or homes)",
        "scopes": list(CULLER_SCOPES),
        "services": [SERVICE_NAME],
    }


def configure_culling(c: Any, config: PodlabConfig, config_path: str, **options: Any) -> None:
    """Add (or replace) the culler service and role in a jupyterhub_config `c`; a no-op
    when culling is disabled."""
    if not config.culling.enabled:
        return
    hub = c.JupyterHub
    services, roles = _configured_list(hub, "services"), _configured_list(hub, "load_roles")
    services = [s for s in services if s.get("name") != SERVICE_NAME]  # idempotent
    roles = [r for r in roles if r.get("name") != ROLE_NAME]
    hub.services = [*services, culler_service(config, config_path, **options)]
    hub.load_roles = [*roles, culler_role()]


def _configured_list(section: Any, name: str) -> list[Any]:
    """A list already set in the config section, or [] (unset keys of a traitlets Config are
    lazy placeholders, not lists)."""
    value = section.get(name) if callable(getattr(section, "get", None)) else None
    if value is None:
        value = getattr(section, name, None)
    return list(value) if isinstance(value, list) else []


# -- the service process --------------------------------------------------------------------------
FORCED = {"--cull-users": "False", "--remove-named-servers": "False", "--max-age": "0"}


def _safe_argv(argv: list[str]) -> list[str]:
    """Drop any attempt to enable user deletion, named-server removal or a global max age."""
    kept = [a for a in argv if a.split("=", 1)[0] not in FORCED]
    return kept + [f"{flag}={value}" for flag, value in FORCED.items()]


def main(argv: list[str] | None = None) -> None:
    from jupyterhub_idle_culler import IdleCuller  # type: ignore[import-untyped]

    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(name)s] %(message)s")
    path = os.environ.get("PODLAB_CONFIG")
    if not path:
        sys.exit("podlab.culling: set PODLAB_CONFIG to the podlab config file")
    try:
        policy = CullPolicy(load_config(path))
    except ConfigError as err:
        sys.exit(f"podlab.culling: {err}")
    app = IdleCuller.instance()
    app.initialize(_safe_argv(list(sys.argv[1:] if argv is None else argv)))
    app.config_file = ""  # no idle_culler_config.py may replace the hook
    app.cull_arbiter_hook = policy

    def stop(signum: int, _frame: Any) -> None:
        # The hub waits for its services on shutdown: leave at once instead of being killed.
        log.info("podlab.culling: signal %s, stopping", signum)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for profile in policy.config.profiles:
        limits = policy.limits_for({"user_options": {PROFILE_KEY: profile.slug}})
        log.info(
            "podlab.culling: profile %s idle_timeout=%ss max_age=%s",
            limits.profile,
            limits.idle_timeout,
            f"{limits.max_age}s" if limits.max_age else "none",
        )
    app.start()


if __name__ == "__main__":
    main()
