"""A component that cannot start says which component, why, and what to do."""

from __future__ import annotations

import socket
import sys

import pytest

from podlab.localstack.postgres import PostgresServer
from podlab.localstack.process import ComponentError, ManagedProcess, free_port, start_http_server
from podlab.localstack.s3 import S3Server


@pytest.fixture
def taken_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def test_port_in_use_names_component_and_port(taken_port, component_log_dir):
    server = S3Server(component_log_dir / "taken", taken_port)
    with pytest.raises(ComponentError) as err:
        server.start()
    message = str(err.value)
    assert message.startswith("s3 (moto server): port ")
    assert f"port {taken_port} on 127.0.0.1 is already in use" in message
    assert "What to do:" in message


def test_postgres_port_in_use(taken_port, work_root, component_log_dir):
    pg = PostgresServer(work_root / "pg-taken", component_log_dir / "pg-taken", taken_port)
    pg.init()
    with pytest.raises(ComponentError, match=rf"postgresql: port {taken_port} .* in use"):
        pg.start()


def test_missing_binary_names_component_and_install_hint(monkeypatch, work_root, component_log_dir):
    monkeypatch.setattr("podlab.localstack.postgres.pgserver_bin", lambda: None)
    monkeypatch.setenv("PODLAB_PG_BIN", "/nonexistent")
    monkeypatch.setattr("glob.glob", lambda pattern: [])
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ComponentError) as err:
        PostgresServer(work_root / "pg-none", component_log_dir / "pg-none", free_port())
    assert "postgresql: initdb/postgres binaries not found" in str(err.value)
    assert "apt-get install -y postgresql" in str(err.value)


def test_process_that_dies_while_starting_reports_exit_and_log_tail(component_log_dir):
    script = "import sys; print('bad setting: frobnicate=yes', flush=True); sys.exit(3)"
    process = ManagedProcess(
        "demo-server",
        [sys.executable, "-c", script],
        log_path=component_log_dir / "demo.log",
        ready=lambda: False,
        start_timeout=30,
        hint="fix the setting",
    )
    with pytest.raises(ComponentError) as err:
        process.start()
    message = str(err.value)
    assert "demo-server: exited with code 3 while starting" in message
    assert "What to do: fix the setting" in message
    assert "bad setting: frobnicate=yes" in message  # the log tail is in the error


def test_server_that_never_becomes_healthy_times_out_and_is_stopped(component_log_dir):
    port = free_port()
    # A server that listens but never serves /health.
    script = (
        f"import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); "
        "time.sleep(600)"
    )
    with pytest.raises(ComponentError, match=r"slow-server: not ready after 2s"):
        start_http_server(
            "slow-server",
            [sys.executable, "-c", script],
            health_url=f"http://127.0.0.1:{port}/health",
            port=port,
            log_path=component_log_dir / "slow.log",
            start_timeout=2,
        )
    # stop() ran: the port is free again.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_generic_http_helper_starts_and_stops_a_real_server(component_log_dir, tmp_path):
    port = free_port()
    (tmp_path / "health").write_text("ok")
    server = start_http_server(
        "static-http",
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        health_url=f"http://127.0.0.1:{port}/health",
        port=port,
        cwd=tmp_path,
        log_path=component_log_dir / "static-http.log",
    )
    assert server.running
    server.stop()
    assert not server.running
