"""Culling: per-profile idle timeouts and max ages, fed by the activity reporter.

Time travel: the real `CullPolicy` (the culler's arbiter hook) and the real `ActivityReporter`
run against a fake clock; the reporter's POST is replaced by "set last_activity" (what the
hub's activity API does), and the hook is called exactly as jupyterhub-idle-culler calls it.
Then one real run: the stock idle culler as a hub-managed service against a real hub with
the local spawner, with seconds instead of hours.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from podlab.activity.gpu import FileGpuSource
from podlab.activity.probes import ActivityProbe
from podlab.activity.reporter import ActivityReporter, HubTarget, isoformat
from podlab.config import parse_config
from podlab.culling import (
    CULLER_SCOPES,
    CullPolicy,
    _safe_argv,
    configure_culling,
    culler_role,
    culler_service,
)
from podlab.localstack.jupyterhub import JupyterHubServer
from tests.hub.local_helpers import CPU, GPU, Kernel, spawn, spawner_config, write_config

HOUR = 3600
CONFIG = parse_config(
    {
        "profiles": [
            {**CPU, "idle_timeout": "8h"},
            {**GPU, "idle_timeout": "30m"},
            {**CPU, "slug": "batch", "default": False, "idle_timeout": "1h", "max_age": "12h"},
        ],
        "culling": {"default_idle_timeout": "2h", "check_every": "5m", "gpu_busy_threshold": 10},
    }
)
START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class SimServer:
    """A running server as the hub models it, with the reporter that runs inside it."""

    def __init__(self, user: str, profile: str | None, clock: Clock, probe: ActivityProbe):
        self.user = user
        self.model: dict[str, Any] = {
            "name": "",
            "full_name": f"{user}/",
            "started": isoformat(clock.now),
            "last_activity": isoformat(clock.now),
            "user_options": {"profile": profile} if profile else {},
        }
        self.reporter = ActivityReporter(
            probe, HubTarget("http://hub/activity", "token"), post=self.post, clock=clock
        )

    async def post(self, target: HubTarget, when: datetime) -> None:
        self.model["last_activity"] = isoformat(when)  # what POST .../activity does


def simulate(
    servers: list[SimServer],
    hours: float,
    *,
    report_every: int = 60,
    clock: Clock | None = None,
    events: Mapping[int, Sequence[Callable[[], object]]] | None = None,
) -> dict[str, int]:
    """Advance time minute by minute; return {user: seconds after start when culled}."""
    clock = clock or Clock()
    policy = CullPolicy(CONFIG, clock=clock)
    culled: dict[str, int] = {}
    events = events or {}

    async def run() -> None:
        for second in range(0, int(hours * HOUR) + 1, report_every):
            clock.now = START + timedelta(seconds=second)
            for action in events.get(second, []):
                action()
            alive = [s for s in servers if s.user not in culled]
            for server in alive:
                await server.reporter.tick()
            if second % CONFIG.culling.check_every == 0:
                for server in alive:
                    last = datetime.fromisoformat(server.model["last_activity"].rstrip("Z"))
                    inactive = clock.now - last.replace(tzinfo=timezone.utc)
                    if policy(inactive=inactive, inactive_limit=7200, server=server.model):
                        culled[server.user] = second

    asyncio.run(run())
    return culled


def test_idle_gpu_server_is_culled_at_30m_while_idle_cpu_server_survives_to_its_8h():
    clock = Clock()
    gpu = SimServer("gina", "gpu-1", clock, ActivityProbe())
    cpu = SimServer("carl", "cpu-small", clock, ActivityProbe())
    culled = simulate([gpu, cpu], hours=9, clock=clock)
    assert culled == {"gina": 30 * 60, "carl": 8 * HOUR}


def test_a_silent_but_executing_kernel_is_kept_and_culled_after_it_finishes():
    clock = Clock()
    kernels = [{"id": "k1", "execution_state": "busy"}]  # time.sleep(3h): no output at all
    server = SimServer("kim", "gpu-1", clock, ActivityProbe(kernels=lambda: kernels))
    finish = {3 * HOUR: [lambda: kernels[0].update(execution_state="idle")]}
    culled = simulate([server], hours=5, clock=clock, events=finish)
    assert culled == {"kim": 3 * HOUR + 30 * 60}
    # Without the reporter the same server looks idle from its start: the stock culler's view.
    plain = SimServer("kim", "gpu-1", Clock(), ActivityProbe())
    assert simulate([plain], hours=5) == {"kim": 30 * 60}


def test_a_gpu_busy_server_is_kept_while_utilisation_is_at_or_above_the_threshold(tmp_path):
    clock = Clock()
    util = tmp_path / "gpu-utilization"
    util.write_text("0\n95\n")  # two GPUs, one busy
    probe = ActivityProbe(gpu=FileGpuSource(util), gpu_busy_threshold=10)
    server = SimServer("gus", "gpu-1", clock, probe)
    events = {
        2 * HOUR: [lambda: util.write_text("10")],  # exactly the threshold: still busy
        5 * HOUR: [lambda: util.write_text("9")],  # below: idle from now on
    }
    culled = simulate([server], hours=7, clock=clock, events=events)
    assert culled == {"gus": 5 * HOUR + 30 * 60}


def test_max_age_stops_even_a_busy_server():
    clock = Clock()
    busy = ActivityProbe(kernels=lambda: [{"id": "k", "execution_state": "busy"}])
    server = SimServer("bea", "batch", clock, busy)
    assert simulate([server], hours=13, clock=clock) == {"bea": 12 * HOUR}


def test_a_terminal_or_exec_session_counts_as_activity():
    clock = Clock()
    term = SimpleNamespace(clients=["websocket"])
    attached = SimServer("tom", "gpu-1", clock, ActivityProbe(terminals=lambda: {"1": term}))
    detached_term = SimpleNamespace(clients=[])
    detached = SimServer(
        "ted", "gpu-1", clock, ActivityProbe(terminals=lambda: {"1": detached_term})
    )
    assert simulate([attached, detached], hours=2, clock=clock) == {"ted": 30 * 60}


def test_how_the_hook_learns_the_profile():
    policy = CullPolicy(CONFIG, clock=lambda: START)
    idle = timedelta(hours=3)
    server = {"started": isoformat(START), "user_options": {}}
    # No options: the default profile (cpu-small, 8h) applies, as the spawners use it.
    assert policy.limits_for(server).profile == "cpu-small"
    assert policy(inactive=idle, inactive_limit=60, server=server) is False
    # A profile removed from the config while the server ran: culling.default_idle_timeout.
    gone = {**server, "user_options": {"profile": "retired"}}
    assert policy.limits_for(gone).idle_timeout == 2 * HOUR
    assert policy(inactive=idle, inactive_limit=60, server=gone) is True
    # No activity information yet: never cull on missing data.
    assert policy(inactive=None, inactive_limit=60, server=server) is False
    assert policy.decide(idle, {**server, "user_options": {"profile": "gpu-1"}}).reason == (
        "profile gpu-1: idle 10800s >= idle_timeout 1800s"
    )


def test_the_culler_service_can_stop_servers_but_never_delete_users_or_homes():
    service = culler_service(CONFIG, "/etc/podlab/podlab.yaml", python="/py")
    assert service["name"] == "idle-culler"
    assert service["command"][:3] == ["/py", "-m", "podlab.culling"]
    assert "--timeout=7200" in service["command"]
    assert "--cull-every=300" in service["command"]
    assert {"--cull-users=False", "--remove-named-servers=False", "--max-age=0"} <= set(
        service["command"]
    )
    assert service["environment"]["PODLAB_CONFIG"] == "/etc/podlab/podlab.yaml"
    role = culler_role()
    assert role["services"] == ["idle-culler"]
    assert sorted(role["scopes"]) == sorted(CULLER_SCOPES)
    assert not any(
        s.startswith(("admin:users", "admin:servers", "delete:users")) for s in role["scopes"]
    )
    # Extra arguments cannot turn user deletion back on.
    argv = _safe_argv(["--timeout=5", "--cull-users=True", "--remove-named-servers=True"])
    assert "--cull-users=True" not in argv
    assert argv[-3:] == ["--cull-users=False", "--remove-named-servers=False", "--max-age=0"]


def test_configure_culling_adds_service_and_role_unless_disabled():
    c = SimpleNamespace(JupyterHub=SimpleNamespace(services=[{"name": "x"}], load_roles=[]))
    configure_culling(c, CONFIG, "/p.yaml")
    assert [s["name"] for s in c.JupyterHub.services] == ["x", "idle-culler"]
    assert [r["name"] for r in c.JupyterHub.load_roles] == ["podlab-idle-culler"]
    off = CONFIG.model_copy(
        update={"culling": CONFIG.culling.model_copy(update={"enabled": False})}
    )
    c = SimpleNamespace(JupyterHub=SimpleNamespace(services=[], load_roles=[]))
    configure_culling(c, off, "/p.yaml")
    assert c.JupyterHub.services == []


# -- the real thing ------------------------------------------------------------------------------
def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def running(hub: JupyterHubServer, user: str) -> bool:
    _, model = hub.api("GET", f"/users/{user}")
    return "" in model["servers"]


@pytest.fixture
def culling_hub(make_jupyterhub, work_root):
    base = work_root / "culling"
    config_path = write_config(
        base / "podlab.yaml",
        [{**CPU, "idle_timeout": 8}, {**GPU, "idle_timeout": 8}],
        culling={"default_idle_timeout": 8, "check_every": 2, "gpu_busy_threshold": 50},
    )
    env = dict(os.environ, PODLAB_FAKE_GPUS="1")
    env["PODLAB_FAKE_GPU_UTILIZATION_FILE"] = "~/fake-gpu-utilization"  # per user home
    extra = spawner_config(config_path, base / "data", activity_interval=1)
    extra += (
        "from podlab.config import load_config\n"
        "from podlab.culling import configure_culling\n"
        f"configure_culling(c, load_config({str(config_path)!r}), {str(config_path)!r})\n"
    )
    hub = make_jupyterhub("culling", env=env, extra_config=extra)
    yield SimpleNamespace(hub=hub, homes=base / "data" / "homes")
    # Stop the culler first: the hub would otherwise wait for it on shutdown.
    _, service = hub.api("GET", "/services/idle-culler")
    if service.get("pid"):
        os.kill(service["pid"], signal.SIGTERM)
    hub.stop()


def test_real_culler_keeps_busy_servers_and_culls_idle_ones_without_touching_homes(culling_hub):
    hub, homes = culling_hub.hub, culling_hub.homes
    (homes / "gwen").mkdir(parents=True)
    (homes / "gwen" / "fake-gpu-utilization").write_text("80")
    (homes / "gwen" / "thesis.txt").write_text("three years of work")

    spawn(hub, "bo", {"profile": "cpu-small"})
    token, _ = hub.user_token("bo")
    kernel = Kernel(hub, "bo", token)
    kernel.send("import time; time.sleep(300)")  # silent and busy; never waited for
    spawn(hub, "gwen", {"profile": "gpu-1"})
    time.sleep(12)  # > idle_timeout (8 s) and several culler passes (every 2 s)
    assert running(hub, "bo"), "a silently executing kernel must keep its server"
    assert running(hub, "gwen"), "a GPU above the threshold must keep its server"

    (homes / "gwen" / "fake-gpu-utilization").write_text("3")  # below gpu_busy_threshold
    wait_for(lambda: not running(hub, "gwen"), 30, "the now idle GPU server to be culled")
    assert running(hub, "bo")
    assert (homes / "gwen" / "thesis.txt").read_text() == "three years of work"
    status, gwen = hub.api("GET", "/users/gwen")
    assert status == 200  # the user is kept: only the server stopped
    assert gwen["name"] == "gwen"
    kernel.close()
    log = hub.log_path.read_text()
    assert "cull gwen/: profile gpu-1: idle" in log
    assert "cull bo/" not in log


def test_culler_module_refuses_to_start_without_a_config(tmp_path):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PODLAB_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-m", "podlab.culling"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "set PODLAB_CONFIG to the podlab config file" in result.stderr
    bad = Path(tmp_path / "bad.yaml")
    bad.write_text("podlab: {profiles: []}\n")
    result = subprocess.run(
        [sys.executable, "-m", "podlab.culling"],
        env={**env, "PODLAB_CONFIG": str(bad)},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "podlab.profiles" in result.stderr


def test_configure_culling_on_a_real_traitlets_config():
    from traitlets.config import Config

    c = Config()
    configure_culling(c, CONFIG, "/p.yaml")
    assert [s["name"] for s in c.JupyterHub.services] == ["idle-culler"]
    c.JupyterHub.services.append({"name": "mlflow"})
    configure_culling(c, CONFIG, "/p.yaml")
    assert [s["name"] for s in c.JupyterHub.services] == ["mlflow", "idle-culler"]
    assert [r["name"] for r in c.JupyterHub.load_roles] == ["podlab-idle-culler"]
