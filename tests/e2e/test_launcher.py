"""`make up` / `make down` / `podlab status` failure paths: clear messages, nothing half-started.

These run the real launcher (`python -m podlab up|down|status`, what the Makefile runs) against a
temp data dir and free ports, without a browser.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
import yaml

from podlab.localstack.paths import new_work_dir
from podlab.localstack.process import pid_alive, port_in_use
from tests.e2e.platform import LocalPlatformUnderTest


@pytest.fixture
def launcher() -> Iterator[LocalPlatformUnderTest]:
    root = new_work_dir("launcher")
    platform = LocalPlatformUnderTest.create(root)
    yield platform
    platform.podlab("down")


def ports_of(platform: LocalPlatformUnderTest) -> list[int]:
    return [platform.hub_port, platform.pg_port, platform.mlflow_port, platform.s3_port]


def test_port_in_use_names_it_and_starts_nothing(launcher):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", launcher.mlflow_port))
        blocker.listen(1)
        result = launcher.podlab("up")
    assert result.returncode == 1
    assert (
        f"podlab up: mlflow: port {launcher.mlflow_port} on 127.0.0.1 is already in use"
        in result.stderr
    )
    assert "What to do: stop the process that holds it" in result.stderr
    # Checked before anything started: no component runs, no PID file was written.
    for port in (launcher.hub_port, launcher.pg_port, launcher.s3_port):
        assert not port_in_use(port)
    assert not list((launcher.data_dir / "run").glob("*.pid"))


def test_invalid_config_is_refused_before_anything_starts(launcher):
    config = yaml.safe_load(launcher.config_path.read_text())
    config["podlab"]["profiles"][0]["memory"]["limit"] = "4Gb"
    launcher.config_path.write_text(yaml.safe_dump(config))
    result = launcher.podlab("up")
    assert result.returncode == 1
    assert "podlab.profiles[0](cpu-small).memory.limit: expected a Kubernetes quantity" in (
        result.stderr
    )
    assert f"Fix {launcher.config_path} and run `make up` again." in result.stderr
    assert not any(port_in_use(port) for port in ports_of(launcher))


def test_stale_pid_file_is_cleared_with_a_message(launcher):
    run = launcher.data_dir / "run"
    run.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run / "postgresql.pid").write_text(f"{dead.pid}\n")
    # A stale file must not stop `down` either.
    down = launcher.podlab("down")
    assert down.returncode == 0
    assert "podlab is not running" in down.stdout
    (run / "postgresql.pid").write_text(f"{dead.pid}\n")
    # Only check the message: the platform then starts for real and the fixture stops it.
    up = launcher.podlab("up")
    assert f"removed stale PID file {run / 'postgresql.pid'} (pid {dead.pid} is not running)" in (
        up.stdout
    ), up.stdout + up.stderr
    assert up.returncode == 0, up.stderr


def test_status_up_again_and_down(launcher):
    up = launcher.podlab("up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "podlab is up in " in up.stdout
    assert f"open {launcher.url}" in up.stdout

    status = launcher.podlab("status")
    assert status.returncode == 0, status.stdout
    lines = {line.split()[0]: line.split() for line in status.stdout.splitlines()[1:]}
    assert set(lines) == {"postgresql", "s3", "mlflow", "jupyterhub"}
    for component, fields in lines.items():
        assert fields[2] == "ok", status.stdout
        assert pid_alive(int(fields[1])), component
    assert lines["jupyterhub"][3] == launcher.url
    assert lines["mlflow"][3] == launcher.mlflow_url

    again = launcher.podlab("up")
    assert again.returncode == 1
    assert "podlab is already running: postgresql has pid" in again.stderr
    assert "Run `make down` first" in again.stderr

    pids = [int(fields[1]) for fields in lines.values()]
    down = launcher.podlab("down")
    assert down.returncode == 0
    assert down.elapsed < 15, down.stdout
    order = [line.split()[1] for line in down.stdout.splitlines() if "stopped" in line]
    assert order == ["jupyterhub", "mlflow", "s3", "postgresql"]
    assert not any(pid_alive(pid) for pid in pids)
    status = launcher.podlab("status")
    assert status.returncode == 1
    assert status.stdout.count("stopped") == 4
