"""Tell the hub "this server is in use now" while a probe says so.

Same request as jupyterhub-singleuser's own activity report (`POST
{JUPYTERHUB_API_URL}/users/{user}/activity` with the server's token, whose default scopes
include `users:activity!user`), but sent with the current time whenever `ActivityProbe` finds
a reason, instead of the server's last HTTP/kernel-message time. The idle culler then sees a
recent `last_activity` and keeps the server; nothing hub-side needs to know about probes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

from podlab.activity.probes import ActivityProbe

DEFAULT_INTERVAL = 60
"""Seconds between probes; well under any idle timeout, cheap enough (a /proc scan)."""

log = logging.getLogger("podlab.activity")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def isoformat(when: datetime) -> str:
    return when.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"


@dataclass(frozen=True)
class HubTarget:
    """Where and as whom to report, from the variables the spawner gives every server."""

    activity_url: str
    token: str
    server_name: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HubTarget | None:
        token = env.get("JUPYTERHUB_API_TOKEN")
        user = env.get("JUPYTERHUB_USER")
        url = env.get("JUPYTERHUB_ACTIVITY_URL")
        if not url and env.get("JUPYTERHUB_API_URL") and user:
            url = f"{env['JUPYTERHUB_API_URL'].rstrip('/')}/users/{quote(user, safe='')}/activity"
        if not token or not url:
            return None
        return cls(url, token, env.get("JUPYTERHUB_SERVER_NAME", ""))

    def body(self, when: datetime) -> bytes:
        stamp = isoformat(when)
        return json.dumps(
            {"servers": {self.server_name: {"last_activity": stamp}}, "last_activity": stamp}
        ).encode()


Post = Callable[[HubTarget, datetime], Awaitable[None]]


async def tornado_post(target: HubTarget, when: datetime) -> None:
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest

    request = HTTPRequest(
        target.activity_url,
        method="POST",
        headers={
            "Authorization": f"token {target.token}",
            "Content-Type": "application/json",
        },
        body=target.body(when),
        request_timeout=30,
    )
    await AsyncHTTPClient().fetch(request)


class ActivityReporter:
    """One probe-and-report step per `tick()`; the caller schedules ticks."""

    def __init__(
        self,
        probe: ActivityProbe,
        target: HubTarget,
        *,
        post: Post = tornado_post,
        clock: Callable[[], datetime] = utcnow,
        logger: logging.Logger = log,
    ) -> None:
        self.probe = probe
        self.target = target
        self.post = post
        self.clock = clock
        self.log = logger
        self.last_reported: datetime | None = None
        self._last_reasons: list[str] = []

    async def tick(self) -> list[str]:
        reasons = self.probe.reasons()
        if reasons != self._last_reasons:
            self.log.info(
                "podlab activity: %s", "; ".join(reasons) if reasons else "idle (nothing to report)"
            )
            self._last_reasons = reasons
        if not reasons:
            return reasons
        now = self.clock()
        try:
            await self.post(self.target, now)
        except Exception as err:  # the hub restarting must not kill the reporter
            self.log.warning(
                "podlab activity: reporting to %s failed: %s", self.target.activity_url, err
            )
        else:
            self.last_reported = now
        return reasons


def interval_for(idle_timeout: int) -> int:
    """Seconds between reports for a server culled after `idle_timeout`: at least three reports
    per timeout (a busy server of a 30 s profile must not look idle between two), at most one a
    minute, never more often than every 5 s."""
    return int(max(5, min(DEFAULT_INTERVAL, idle_timeout // 3)))


def interval_from_env(env: Mapping[str, str] | None = None) -> float:
    env = os.environ if env is None else env
    try:
        return max(0.5, float(env.get("PODLAB_ACTIVITY_INTERVAL", DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL
