"""The activity reporter: its probes on real processes and files, and the server extension in a
real Jupyter server reporting to a recording stand-in for the hub's activity API."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import websocket

from podlab.activity import _jupyter_server_extension_points
from podlab.activity.gpu import FileGpuSource, NoGpus, count_gpus, gpu_source
from podlab.activity.probes import ActivityProbe, attached_terminals, busy_kernels, exec_sessions
from podlab.activity.reporter import ActivityReporter, HubTarget
from podlab.localstack.process import ManagedProcess, free_port, http_ok


# -- GPU sources ---------------------------------------------------------------------------------
def test_fake_gpu_file_is_read_per_call_and_expands_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "util").write_text("12, 140\n-3")
    source = gpu_source({"PODLAB_FAKE_GPU_UTILIZATION_FILE": "~/util"})
    assert isinstance(source, FileGpuSource)
    assert source.utilizations() == [12, 100, 0]
    (tmp_path / "util").unlink()
    assert source.utilizations() == []  # no file: no GPUs, never an error


def test_gpu_count_from_the_fake_switch_or_from_the_machine(monkeypatch, tmp_path):
    assert count_gpus({"PODLAB_FAKE_GPUS": "2"}) == (2, "PODLAB_FAKE_GPUS=2")
    with pytest.raises(ValueError, match="PODLAB_FAKE_GPUS must be a whole number, got 'many'"):
        count_gpus({"PODLAB_FAKE_GPUS": "many"})
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi; NVML is not installed here
    if _has_nvml():
        pytest.skip("NVML is installed: this test is about machines without it")
    assert count_gpus({}) == (
        0,
        "no NVIDIA driver found (no NVML library, no nvidia-smi on PATH)",
    )
    assert isinstance(gpu_source({}), NoGpus)


def _has_nvml() -> bool:
    try:
        import pynvml  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        return False
    return True


def test_nvidia_smi_is_used_when_nvml_is_missing(monkeypatch, tmp_path):
    if _has_nvml():
        pytest.skip("NVML is installed")
    smi = tmp_path / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-L" ]; then\n'
        '  echo "GPU 0: Fake (UUID: GPU-1)"; echo "GPU 1: Fake (UUID: GPU-2)"\n'
        "else printf '7\\n93\\n'; fi\n"
    )
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert count_gpus({}) == (2, "nvidia-smi -L")
    assert gpu_source({}).utilizations() == [7, 93]


# -- probes --------------------------------------------------------------------------------------
def test_kernel_and_terminal_probes():
    kernels = [
        {"id": "a", "execution_state": "idle"},
        {"id": "b", "execution_state": "busy"},
        {"id": "c", "execution_state": "starting"},
    ]
    assert busy_kernels(kernels) == ["b"]

    class Term:
        def __init__(self, clients: list[object]) -> None:
            self.clients = clients

    assert attached_terminals({"1": Term([]), "2": Term([object()])}) == ["2"]


@pytest.fixture
def processes() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], user: str | None) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.pop("PODLAB_USER", None)
        if user:
            env["PODLAB_USER"] = user
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


PTY_SHELL = [sys.executable, "-c", "import pty; pty.spawn(['sleep', '60'])"]
VSCODE = ["bash", "-c", "exec -a /home/u/.vscode-server/bin/abc/node sleep 60"]


def wait_until(predicate: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def test_exec_sessions_are_tty_or_vscode_processes_of_this_user_from_outside_the_server(
    processes,
):
    user = f"probe-{uuid.uuid4().hex[:8]}"
    server = processes(PTY_SHELL, user)  # stands in for the server: its pty child is "inside"
    shell = processes(PTY_SHELL, user)  # `kubectl exec -it ... bash`
    vscode = processes(VSCODE, user)  # VS Code's remote server, no TTY
    processes(PTY_SHELL, "someone-else")  # another user's session (local mode)
    processes(["sleep", "60"], user)  # a background process without a TTY: not a session

    def found() -> list[Any]:
        sessions = exec_sessions(server.pid, user)
        return sessions if len(sessions) >= 2 else []

    sessions = wait_until(found)
    kinds = sorted((s.kind, s.command) for s in sessions)
    assert kinds == [("tty", "sleep 60"), ("vscode", "/home/u/.vscode-server/bin/abc/node 60")]
    tty = next(s for s in sessions if s.kind == "tty")
    assert _ppid(tty.pid) == shell.pid  # the pty child of the exec'd shell
    assert next(s for s in sessions if s.kind == "vscode").pid == vscode.pid
    shell.kill()
    vscode.kill()
    assert wait_until(lambda: exec_sessions(server.pid, user) == []) is True


def _ppid(pid: int) -> int:
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rfind(")") + 2 :].split()[1])


def test_probe_combines_reasons_and_survives_a_failing_gpu_source(tmp_path):
    class Broken:
        name = "broken"

        def utilizations(self) -> list[int]:
            raise RuntimeError("driver went away")

    probe = ActivityProbe(kernels=lambda: [{"id": "k", "execution_state": "busy"}], gpu=Broken())
    assert probe.reasons() == ["kernel k executing"]
    util = tmp_path / "u"
    util.write_text("9 10")
    assert ActivityProbe(gpu=FileGpuSource(util), gpu_busy_threshold=10).reasons() == [
        "gpu 1 at 10%"
    ]


# -- the reporter ---------------------------------------------------------------------------------
def test_reporter_posts_now_only_while_busy_and_keeps_going_on_errors():
    import asyncio

    busy = [False]
    posts: list[tuple[str, bytes]] = []
    now = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)

    async def post(target: HubTarget, when: datetime) -> None:
        if when.minute == 1:
            raise OSError("hub restarting")
        posts.append((target.activity_url, target.body(when)))

    probe = ActivityProbe(
        kernels=lambda: [{"id": "k", "execution_state": "busy"}] if busy[0] else []
    )
    target = HubTarget.from_env(
        {
            "JUPYTERHUB_API_TOKEN": "t",
            "JUPYTERHUB_USER": "a b",
            "JUPYTERHUB_API_URL": "http://hub:8081/hub/api/",
        }
    )
    assert target is not None
    assert target.activity_url == "http://hub:8081/hub/api/users/a%20b/activity"
    clock = [now]
    reporter = ActivityReporter(probe, target, post=post, clock=lambda: clock[0])

    async def ticks() -> None:
        assert await reporter.tick() == []
        busy[0] = True
        clock[0] = now.replace(minute=1)
        assert await reporter.tick() == ["kernel k executing"]  # post fails: logged only
        clock[0] = now.replace(minute=2)
        await reporter.tick()

    asyncio.run(ticks())
    assert posts == [
        (
            "http://hub:8081/hub/api/users/a%20b/activity",
            json.dumps(
                {
                    "servers": {"": {"last_activity": "2026-03-01T12:02:00Z"}},
                    "last_activity": "2026-03-01T12:02:00Z",
                }
            ).encode(),
        )
    ]
    assert reporter.last_reported == now.replace(minute=2)
    assert HubTarget.from_env({"JUPYTERHUB_USER": "a"}) is None  # not under a hub: off


def test_extension_is_discoverable_by_jupyter_server():
    assert _jupyter_server_extension_points() == [{"module": "podlab.activity"}]
    packaged = resources.files("podlab.activity") / "jupyter_config"
    config = json.loads((packaged / "jupyter_server_config.d" / "podlab-activity.json").read_text())
    assert config == {"ServerApp": {"jpserver_extensions": {"podlab.activity": True}}}


# -- a real Jupyter server with the extension ----------------------------------------------------
class FakeHub:
    """Records activity POSTs the way the hub's `/users/{name}/activity` handler receives them."""

    def __init__(self, token: str) -> None:
        self.posts: list[tuple[float, dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = self.headers["Authorization"] == f"token {token}"
                if ok and self.path == "/hub/api/users/ana/activity":
                    outer.posts.append((time.monotonic(), json.loads(body)))
                self.send_response(200 if ok else 403)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def posts_since(self, since: float) -> int:
        return sum(1 for when, _ in self.posts if when >= since)

    def active_during(self, seconds: float) -> bool:
        start = time.monotonic()
        time.sleep(seconds)
        return self.posts_since(start) > 0


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory, component_log_dir):
    token, server_token = secrets.token_hex(16), secrets.token_hex(16)
    hub = FakeHub(token)
    home = tmp_path_factory.mktemp("activity-home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PODLAB_"))}
    env.update(
        HOME=str(home),
        JUPYTERHUB_API_TOKEN=token,
        JUPYTERHUB_API_URL=hub.url,
        JUPYTERHUB_USER="ana",
        PODLAB_USER="ana",
        PODLAB_ACTIVITY_INTERVAL="0.5",
        PODLAB_GPU_BUSY_THRESHOLD="50",
        PODLAB_FAKE_GPU_UTILIZATION_FILE="~/gpu",
        # Discovery as the local spawner sets it up (an image gets the same file via pip).
        JUPYTER_CONFIG_PATH=str(resources.files("podlab.activity") / "jupyter_config"),
    )
    process = ManagedProcess(
        "jupyter server",
        [
            sys.executable,
            "-m",
            "jupyter_server",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={server_token}",
            "--allow-root",
            "--no-browser",
            f"--ServerApp.root_dir={home}",
        ],
        log_path=component_log_dir / "activity-jupyter-server.log",
        ready=lambda: http_ok(f"http://127.0.0.1:{port}/api/status?token={server_token}"),
        env=env,
        cwd=home,
        start_timeout=90,
    ).start()
    base = f"http://127.0.0.1:{port}"
    yield type(
        "J",
        (),
        {
            "hub": hub,
            "base": base,
            "token": server_token,
            "home": home,
            "pid": process.pid,
            "log": process.log_path,
        },
    )
    process.stop()


def api(j: Any, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{j.base}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"token {j.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


def test_real_server_reports_only_while_something_is_in_use(jupyter, processes):
    hub = jupyter.hub
    assert wait_until(
        lambda: "podlab activity reporter: probing every 0.5s" in jupyter.log.read_text()
    )
    assert not hub.active_during(2), "an idle server must not report activity"

    # A kernel executing silently.
    kernel = api(jupyter, "POST", "/api/kernels", {"name": "python3"})
    ws = websocket.create_connection(
        f"{jupyter.base.replace('http', 'ws')}/api/kernels/{kernel['id']}/channels",
        header=[f"Authorization: token {jupyter.token}"],
    )
    ws.send(
        json.dumps(
            {
                "header": {
                    "msg_id": "m1",
                    "username": "ana",
                    "session": "s1",
                    "msg_type": "execute_request",
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "channel": "shell",
                "buffers": [],
                "content": {"code": "import time; time.sleep(6)", "silent": False},
            }
        )
    )
    assert wait_until(lambda: hub.posts_since(time.monotonic() - 1), timeout=5)
    assert hub.active_during(2), "a silently executing kernel is activity"
    wait_until(
        lambda: api(jupyter, "GET", f"/api/kernels/{kernel['id']}")["execution_state"] == "idle", 15
    )
    time.sleep(1)
    assert not hub.active_during(2), "a finished kernel is not"
    ws.close()

    # A Jupyter terminal with a browser attached.
    term = api(jupyter, "POST", "/api/terminals")
    tws = websocket.create_connection(
        f"{jupyter.base.replace('http', 'ws')}/terminals/websocket/{term['name']}",
        header=[f"Authorization: token {jupyter.token}"],
    )
    assert wait_until(lambda: hub.posts_since(time.monotonic() - 1), timeout=5)
    tws.close()
    time.sleep(1.5)
    assert not hub.active_during(2), "a terminal nobody looks at is not activity"

    # An exec session (kubectl exec -it / VS Code): a TTY process with this server's env.
    shell = processes(PTY_SHELL, "ana")
    assert wait_until(lambda: hub.posts_since(time.monotonic() - 1), timeout=5)
    shell.kill()
    shell.wait()
    time.sleep(1.5)
    assert not hub.active_during(2)

    # The fake GPU: busy at or above the threshold (50 here).
    (jupyter.home / "gpu").write_text("75")
    assert wait_until(lambda: hub.posts_since(time.monotonic() - 1), timeout=5)
    (jupyter.home / "gpu").write_text("49")
    time.sleep(1.5)
    assert not hub.active_during(2)

    _, body = hub.posts[-1]
    assert set(body) == {"servers", "last_activity"}
    assert body["servers"][""]["last_activity"] == body["last_activity"]
    assert body["last_activity"].endswith("Z")
    log = jupyter.log.read_text()
    for reason in ("executing", "attached", "tty session", "gpu 0 at 75%"):
        assert reason in log
