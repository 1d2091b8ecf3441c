"""A notebook renamed after its kernel started is recorded under its current name.

JupyterLab starts the kernel of a new notebook as "Untitled.ipynb" and renames it later;
JPY_SESSION_NAME keeps the old name, so envlogger asks the server that owns the kernel.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
import urllib.request

import nbformat
from jupyter_client.blocking.client import BlockingKernelClient

from podlab.localstack.process import free_port, start_http_server
from tests.envlogger.git_helpers import commit_all, make_repo


def call(base: str, token: str, method: str, path: str, body: object | None = None):
    request = urllib.request.Request(
        f"{base}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_renamed_notebook_is_recorded_under_its_new_path(tmp_path, component_log_dir):
    repo = make_repo(tmp_path / "repo")
    (repo / "notebooks").mkdir()
    nbformat.write(nbformat.v4.new_notebook(), repo / "notebooks" / "Untitled.ipynb")  # type: ignore[no-untyped-call]
    commit_all(repo, "add notebook")
    runtime = tmp_path / "runtime"
    port, token = free_port(), secrets.token_hex(16)
    server = start_http_server(
        "jupyter server",
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--ServerApp.root_dir={repo}",
            f"--IdentityProvider.token={token}",
            "--ServerApp.allow_root=True",
        ],
        health_url=f"http://127.0.0.1:{port}/api",
        log_path=component_log_dir / "envlogger-jupyter-server.log",
        port=port,
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)},
        start_timeout=90,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        session = call(
            base,
            token,
            "POST",
            "/api/sessions",
            {
                "path": "notebooks/Untitled.ipynb",
                "type": "notebook",
                "name": "Untitled.ipynb",
                "kernel": {"name": "python3"},
            },
        )
        # What JupyterLab does on "Rename Notebook…": move the file, then the session.
        call(
            base,
            token,
            "PATCH",
            "/api/contents/notebooks/Untitled.ipynb",
            {"path": "notebooks/explore.ipynb"},
        )
        call(
            base,
            token,
            "PATCH",
            f"/api/sessions/{session['id']}",
            {"path": "notebooks/explore.ipynb", "name": "explore.ipynb"},
        )
        client = BlockingKernelClient(
            connection_file=str(runtime / f"kernel-{session['kernel']['id']}.json")
        )
        client.load_connection_file()
        client.start_channels()
        out: list[str] = []
        try:
            # The server answers before the kernel's heartbeat is up; a first wait can report
            # "Kernel died" for a kernel that is still starting (seen under load).
            for attempt in range(5):
                try:
                    client.wait_for_ready(timeout=60)
                    break
                except RuntimeError:
                    if attempt == 4:
                        raise
                    time.sleep(2)
            client.execute_interactive(
                "import json, os, envlogger\n"
                "print(json.dumps([os.environ.get('JPY_SESSION_NAME'), "
                "envlogger.capture().to_dict()['entry_point']]))",
                timeout=60,
                output_hook=lambda msg: (
                    out.append(msg["content"].get("text", ""))
                    if msg["msg_type"] == "stream"
                    else None
                ),
            )
        finally:
            client.stop_channels()
    finally:
        server.stop()
    session_name, entry = json.loads("".join(out))
    assert session_name.endswith("Untitled.ipynb")  # the kernel's environment is stale...
    assert entry["kind"] == "notebook"
    assert entry["path"] == "notebooks/explore.ipynb"  # ...envlogger is not
