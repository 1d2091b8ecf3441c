"""The activity reporter as the single-user images install it: the podlab package built from the
build context (what .dockerignore lets through) and installed as a wheel with --no-deps, so its
jupyter_server_config.d file lands under the prefix's etc/jupyter and enables the extension.
A real Jupyter Server from the dev environment then loads that installed copy, reports activity
to a stand-in hub, and answers the image's HEALTHCHECK script."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from podlab.localstack.paths import REPO_ROOT
from podlab.localstack.process import ManagedProcess, free_port, http_ok
from tests.images.dockerfiles import HEALTHCHECK_SCRIPT, excluded_from_context

EXTENSION = "podlab.activity"
CONFIG_FILE = Path("etc/jupyter/jupyter_server_config.d/podlab-activity.json")
BUILD_CHECK = re.compile(r"podlab\.activity.*enabled")
"""The Dockerfiles' build-time check: `jupyter server extension list 2>&1 | grep -E ...`."""


def _copy_build_context(source: str, destination: Path) -> None:
    """Copy a folder the way `COPY <source> ...` receives it (after .dockerignore)."""
    for path in sorted((REPO_ROOT / source).rglob("*")):
        relative = str(path.relative_to(REPO_ROOT))
        if path.is_file() and not excluded_from_context(relative):
            target = destination / path.relative_to(REPO_ROOT / source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


class Installed:
    """A venv laid out like the image's /opt/venv: the podlab wheel in its site-packages, the
    extension's config file in {sys.prefix}/etc/jupyter. The rest (jupyter_server, tornado)
    comes from the dev environment through a .pth line, which adds its site-packages as a
    plain path: the dev environment's editable podlab is not seen, only the installed wheel."""

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix
        self.python = str(prefix / "bin" / "python")
        self.site = Path(
            sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)})
        )

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PODLAB_"))}
        env.pop("PYTHONPATH", None)
        env.update(extra)
        return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    """`COPY hub /tmp/src/hub` + `pip install --no-deps --no-build-isolation /tmp/src/hub`."""
    root = tmp_path_factory.mktemp("image-install")
    _copy_build_context("hub", root / "src" / "hub")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    target = Installed(venv)
    env = {k: v for k, v in target.env().items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    # The dev environment's pip, told where to install (--prefix) and to leave every installed
    # distribution alone (--ignore-installed): never touch the dev environment's own podlab.
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--no-deps",
         "--no-build-isolation", "--ignore-installed", "--prefix", str(venv),
         str(root / "src" / "hub")],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Uninstalling" not in proc.stdout + proc.stderr
    (target.site / "podlab-test-dev-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return target


def test_the_wheel_installs_the_file_that_enables_the_extension(installed: Installed):
    config = json.loads((installed.prefix / CONFIG_FILE).read_text())
    assert config == {"ServerApp": {"jpserver_extensions": {EXTENSION: True}}}
    assert (installed.site / "podlab" / "activity" / "__init__.py").is_file()


def test_jupyter_lists_it_enabled_as_the_image_build_checks(installed: Installed):
    proc = subprocess.run(
        [installed.python, "-m", "jupyter_server", "extension", "list"],
        capture_output=True, text=True, timeout=120, check=False, env=installed.env(),
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert BUILD_CHECK.search(output), output
    assert re.search(r"podlab\.activity\s.*OK", output), output
    assert f"Config dir: {installed.prefix}/etc/jupyter" in output
    imported = subprocess.run(
        [installed.python, "-c", "import podlab.activity as a; print(a.__file__)"],
        capture_output=True, text=True, check=True, env=installed.env(),
    ).stdout.strip()  # fmt: skip
    assert imported.startswith(str(installed.site)), "the installed copy, not the source tree"


class FakeHub:
    """Records the activity reports the hub's `/users/{name}/activity` would receive."""

    def __init__(self, token: str, user: str) -> None:
        self.posts: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = self.headers["Authorization"] == f"token {token}"
                if ok and self.path == f"/hub/api/users/{user}/activity":
                    outer.posts.append(json.loads(body))
                self.send_response(200 if ok else 403)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Server:
    def __init__(self, hub: FakeHub, home: Path, port: int, log: Path) -> None:
        self.hub, self.home, self.port, self.log = hub, home, port, log
        self.service_url = f"http://0.0.0.0:{port}/user/alice/"


@pytest.fixture(scope="module")
def server(installed: Installed, tmp_path_factory, component_log_dir) -> Iterator[Server]:
    token = secrets.token_hex(16)
    hub = FakeHub(token, "alice")
    home = tmp_path_factory.mktemp("activity-image-home")
    (home / "gpu").write_text("95")  # a busy GPU: a reason to report, without hardware
    port = free_port()
    env = installed.env(
        HOME=str(home),
        JUPYTERHUB_API_TOKEN=token,
        JUPYTERHUB_API_URL=hub.url,
        JUPYTERHUB_USER="alice",
        PODLAB_USER="alice",
        PODLAB_ACTIVITY_INTERVAL="0.5",
        PODLAB_FAKE_GPU_UTILIZATION_FILE="~/gpu",
        JUPYTER_RUNTIME_DIR=str(home / ".runtime"),
        JUPYTER_DATA_DIR=str(home / ".data"),
    )
    process = ManagedProcess(
        "jupyter server (image layout)",
        [
            installed.python,
            "-m",
            "jupyter_server",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={secrets.token_hex(16)}",
            "--allow-root",
            "--no-browser",
            f"--ServerApp.root_dir={home}",
            "--ServerApp.base_url=/user/alice/",
        ],
        log_path=component_log_dir / "images-activity-jupyter-server.log",
        ready=lambda: http_ok(f"http://127.0.0.1:{port}/user/alice/api"),
        env=env,
        cwd=home,
        start_timeout=90,
        hint="the dev environment provides jupyter_server: run `make setup`",
    ).start()
    yield Server(hub, home, port, process.log_path)
    process.stop()
    hub.close()


def _wait(predicate: Any, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return bool(predicate())


def test_a_real_server_loads_the_installed_extension_and_reports(server: Server):
    assert _wait(lambda: server.hub.posts), server.log.read_text()[-3000:]
    log = server.log.read_text()
    assert f"{EXTENSION} | extension was successfully loaded." in log
    assert "podlab activity reporter: probing every 0.5s" in log
    body = server.hub.posts[-1]
    assert set(body) == {"servers", "last_activity"}
    assert body["last_activity"].endswith("Z")


def _healthcheck(service_url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    if service_url:
        env["JUPYTERHUB_SERVICE_URL"] = service_url
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK_SCRIPT)],
        capture_output=True, text=True, timeout=30, check=False, env=env,
    )  # fmt: skip


def test_the_images_healthcheck_passes_against_the_server(server: Server):
    proc = _healthcheck(server.service_url)
    assert proc.returncode == 0, proc.stderr
    assert f"healthy: http://127.0.0.1:{server.port}/user/alice/api" in proc.stdout


def test_the_images_healthcheck_fails_when_nothing_answers():
    proc = _healthcheck(f"http://0.0.0.0:{free_port()}/user/bob/")
    assert proc.returncode == 1
    assert "unhealthy: http://127.0.0.1:" in proc.stderr
