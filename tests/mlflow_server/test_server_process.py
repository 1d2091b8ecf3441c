"""What `serve` runs: one process per worker, no job runner, Host names from the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests


def _tree(pid: int) -> list[str]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo, found = [pid], []
    while todo:
        current = todo.pop()
        try:
            found.append(
                Path(f"/proc/{current}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            )
        except OSError:
            continue
        todo.extend(children.get(current, []))
    return found


def test_one_worker_is_one_process_without_job_runner(mlflow_stack):
    processes = _tree(mlflow_stack.server.pid)
    assert len(processes) == 1, processes  # `serve` exec'd the runner: no launcher, no huey
    assert "podlab_mlflow.runner" in processes[0]


def test_the_listening_socket_gives_connections_tcp_nodelay():
    """uvicorn's own multi-worker socket has protocol 0, so asyncio skips TCP_NODELAY and
    two-part responses wait ~40 ms for delayed ACKs; the runner binds an IPPROTO_TCP socket."""
    import asyncio
    import socket

    from podlab_mlflow.runner import bind_tcp_socket

    async def check() -> int:
        sock = bind_tcp_socket("127.0.0.1", 0)
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_connect(reader, writer):
            raw = writer.get_extra_info("socket")
            accepted.set_result(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=sock)
        port = sock.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        result = await asyncio.wait_for(accepted, 10)
        writer.close()
        server.close()
        return result

    assert asyncio.run(check()) == 1


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("mlflow:5000", 200),
        ("mlflow.podlab.svc.cluster.local", 200),
        ("localhost:8080", 200),
        ("evil.example.com", 403),
    ],
)
def test_allowed_hosts_come_from_the_settings(mlflow_stack, host, status):
    reply = requests.get(
        f"{mlflow_stack.url}/api/2.0/mlflow/experiments/get",
        params={"experiment_id": "0"},
        headers={"Host": host, "Authorization": f"Bearer {mlflow_stack.tokens['alice']}"},
        timeout=30,
    )
    assert reply.status_code == status, reply.text
    if status == 403:
        assert "Invalid Host header" in reply.text


def test_health_answers_any_host_for_probes(mlflow_stack):
    reply = requests.get(
        f"{mlflow_stack.url}/health", headers={"Host": "10.1.2.3:5000"}, timeout=10
    )
    assert reply.status_code == 200
