"""The single-user images' start command, run the way the image runs it: start-singleuser.sh
(by /bin/sh) with the startup code copied out of the package as the Dockerfile copies it, a
temporary HOME, the environment the hub gives a pod, and a stand-in jupyterhub-singleuser
that records how it was started. tests/hub/test_startup.py covers podlab.startup in depth;
this proves the image wiring: files written, idempotent, user edits kept, logged, and the
server always started."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from podlab.config import parse_config
from podlab.integrations import integration_env
from podlab.kubespawner_config import HOME as POD_HOME
from tests.images.dockerfiles import START_SCRIPT, STARTUP_SOURCE

PROFILES = [
    {
        "slug": "cpu",
        "display_name": "CPU",
        "cpu": {"guarantee": 1, "limit": 2},
        "memory": {"guarantee": "1Gi", "limit": "2Gi"},
    }
]
SERVER_ARGS = ["--SingleUserNotebookApp.default_url=/lab", "--debug"]
FAKE_SERVER = """#!/bin/sh
# Stands in for jupyterhub-singleuser: records how it was started.
python3 - "$@" <<'PY'
import json, os, sys
record = {"argv": sys.argv[1:], "home": os.environ.get("HOME"), "cwd": os.getcwd(),
          "user": os.environ.get("JUPYTERHUB_USER")}
with open(os.environ["FAKE_SERVER_RECORD"], "a") as out:
    out.write(json.dumps(record) + "\\n")
PY
"""


class Pod:
    """A pod's filesystem and environment as far as the start command is concerned."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home" / "jovyan"
        self.home.mkdir(parents=True)
        self.bin = root / "bin"
        self.bin.mkdir()
        (self.bin / "jupyterhub-singleuser").write_text(FAKE_SERVER)
        (self.bin / "jupyterhub-singleuser").chmod(0o755)
        (self.bin / "python3").symlink_to(sys.executable)
        # The Dockerfile's `COPY hub/src/podlab/startup.py /usr/local/lib/podlab/startup.py`:
        # a lone file, away from the podlab package, so it must work with the stdlib only.
        self.startup = root / "usr" / "local" / "lib" / "podlab" / "startup.py"
        self.startup.parent.mkdir(parents=True)
        shutil.copy(STARTUP_SOURCE, self.startup)
        self.record = root / "server-starts.jsonl"

    def start(self, env: dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
        full = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": str(self.home),
            "PODLAB_STARTUP_SCRIPT": str(self.startup),
            "FAKE_SERVER_RECORD": str(self.record),
            "JUPYTERHUB_USER": "alice",
            **env,
            **extra,
        }
        return subprocess.run(
            [str(START_SCRIPT), *SERVER_ARGS],
            env=full, cwd=self.home, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    def starts(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def files(self) -> dict[str, str]:
        return {
            str(p.relative_to(self.home)): p.read_text()
            for p in sorted(self.home.rglob("*"))
            if p.is_file()
        }


@pytest.fixture
def pod(tmp_path: Path) -> Pod:
    return Pod(tmp_path)


def pod_env(pod: Pod, integrations: dict[str, Any], username: str = "alice") -> dict[str, str]:
    """What the spawner puts on the pod for this config (home rewritten to the temp HOME)."""
    config = parse_config({"profiles": PROFILES, "integrations": integrations})
    env = integration_env(
        config,
        config.profile("cpu"),
        username=username,
        namespace=f"podlab-{username}",
        home=POD_HOME,
        api_token="token-123",
        service_account="podlab-user",
    )
    return {k: v.replace(POD_HOME, str(pod.home)) for k, v in env.items()}


ENVIRONMENTS: dict[str, tuple[dict[str, Any], dict[str, list[str]]]] = {
    "trino-standalone-git": (
        {
            "sql": {
                "engine": "trino",
                "host": "trino.data",
                "port": 8443,
                "catalog": "hive",
                "schema": "ml",
                "http_scheme": "https",
            },
            "spark": {"mode": "standalone", "url": "spark://spark-master:7077"},
            "git": {"enabled": True, "email_domain": "example.com"},
        },
        {
            ".trino_config": ["server=https://trino.data:8443", "user=alice", "catalog=hive"],
            ".podlab/spark/spark-defaults.conf": ["spark.master spark://spark-master:7077"],
            ".gitconfig": ["name = alice", "email = alice@example.com"],
        },
    ),
    "presto-kubernetes": (
        {
            "sql": {"engine": "presto", "host": "presto", "port": 8080},
            "spark": {"mode": "kubernetes", "executor_instances": 3},
            "git": {"enabled": False},
        },
        {
            ".presto_config": ["server=http://presto:8080", "user=alice"],
            ".podlab/spark/spark-defaults.conf": [
                "spark.master k8s://https://kubernetes.default.svc",
                "spark.kubernetes.namespace podlab-alice",
                "spark.executor.instances 3",
            ],
        },
    ),
    "spark-connect": (
        {"spark": {"mode": "connect", "url": "sc://spark-connect:15002"}, "git": {"enabled": True}},
        {
            ".podlab/spark/spark-defaults.conf": ["spark.remote sc://spark-connect:15002"],
            ".gitconfig": ["email = alice@users.noreply.podlab"],
        },
    ),
    "nothing-configured": ({"git": {"enabled": False}}, {}),
}


@pytest.mark.parametrize("name", list(ENVIRONMENTS))
def test_writes_the_files_of_the_environment_then_starts_the_server(pod: Pod, name: str):
    integrations, expected = ENVIRONMENTS[name]
    proc = pod.start(pod_env(pod, integrations))
    assert proc.returncode == 0, proc.stderr
    files = pod.files()
    assert set(files) == set(expected), proc.stderr
    for path, lines in expected.items():
        for line in lines:
            assert line in files[path], f"{path} lacks {line!r}:\n{files[path]}"
        assert files[path].startswith("# >>> podlab managed >>>"), "a managed block"
        assert f"podlab-startup: {Path(path).name}: written {pod.home / path}" in proc.stderr
    # It logs every decision, one line each, on the pod log (stderr).
    log = [ln for ln in proc.stderr.splitlines() if ln.startswith("podlab-startup: ")]
    assert len(log) == 3, proc.stderr
    # The server was exec'd with the spawner's arguments, in the home directory.
    (start,) = pod.starts()
    assert start == {"argv": SERVER_ARGS, "home": str(pod.home), "cwd": str(pod.home),
                     "user": "alice"}  # fmt: skip


def test_every_start_is_idempotent(pod: Pod):
    env = pod_env(pod, ENVIRONMENTS["trino-standalone-git"][0])
    first = pod.start(env)
    files = pod.files()
    mtimes = {p: (pod.home / p).stat().st_mtime_ns for p in files}
    second = pod.start(env)
    assert first.returncode == second.returncode == 0
    assert pod.files() == files
    assert {p: (pod.home / p).stat().st_mtime_ns for p in files} == mtimes, "nothing rewritten"
    assert second.stderr.count(": unchanged ") == 3, second.stderr
    assert len(pod.starts()) == 2


def test_keeps_what_the_user_edited_and_updates_the_rest(pod: Pod):
    integrations = ENVIRONMENTS["trino-standalone-git"][0]
    assert pod.start(pod_env(pod, integrations)).returncode == 0
    gitconfig = pod.home / ".gitconfig"
    trino = pod.home / ".trino_config"
    spark = pod.home / ".podlab/spark/spark-defaults.conf"
    # Lines after the block (later ones win), a hand edit inside a block, a file made the user's.
    gitconfig.write_text(gitconfig.read_text() + "[alias]\n\tco = checkout\n")
    trino.write_text(trino.read_text().replace("catalog=hive", "catalog=mine"))
    spark.write_text("spark.master local[4]\n")
    changed = {
        **integrations,
        "git": {"enabled": True, "email_domain": "new.example"},
        "sql": {**integrations["sql"], "catalog": "iceberg"},
        "spark": {"mode": "standalone", "url": "spark://other:7077"},
    }
    proc = pod.start(pod_env(pod, changed))
    assert proc.returncode == 0, proc.stderr
    text = gitconfig.read_text()
    assert "email = alice@new.example" in text
    assert "email = alice@example.com" not in text
    assert text.endswith("[alias]\n\tco = checkout\n"), "the user's lines stay"
    assert "catalog=mine" in trino.read_text()
    assert "iceberg" not in trino.read_text()
    assert spark.read_text() == "spark.master local[4]\n"
    assert f"podlab-startup: .gitconfig: updated {gitconfig}" in proc.stderr
    assert f"podlab-startup: .trino_config: kept-user-edit {trino}" in proc.stderr
    assert f"podlab-startup: spark-defaults.conf: kept-user-edit {spark}" in proc.stderr
    # Deleting a file asks for podlab's version again.
    spark.unlink()
    proc = pod.start(pod_env(pod, changed))
    assert "spark.master spark://other:7077" in spark.read_text()
    assert len(pod.starts()) == 3


def test_a_failing_startup_never_keeps_the_server_down(pod: Pod, tmp_path: Path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    env = pod_env(pod, ENVIRONMENTS["trino-standalone-git"][0])
    env = {k: v.replace(str(pod.home), str(blocker / "home")) for k, v in env.items()}
    proc = pod.start(env, HOME=str(blocker / "home"))
    assert proc.returncode == 0
    assert ": failed " in proc.stderr
    assert f"start-singleuser: {pod.startup} exited 1; starting the server anyway" in proc.stderr
    assert len(pod.starts()) == 1


def test_can_be_switched_off_and_survives_a_missing_script(pod: Pod):
    env = pod_env(pod, ENVIRONMENTS["trino-standalone-git"][0])
    off = pod.start(env, PODLAB_STARTUP="off")
    assert off.returncode == 0
    assert pod.files() == {}
    assert "PODLAB_STARTUP=off" in off.stderr
    missing = pod.start(env, PODLAB_STARTUP_SCRIPT=str(pod.root / "nope.py"))
    assert missing.returncode == 0
    assert pod.files() == {}
    assert "nope.py is missing" in missing.stderr
    assert len(pod.starts()) == 2


def test_exit_status_is_the_servers(pod: Pod):
    (pod.bin / "jupyterhub-singleuser").write_text("#!/bin/sh\nexit 7\n")
    proc = pod.start(pod_env(pod, {"git": {"enabled": False}}))
    assert proc.returncode == 7, "exec: the server is the container's main process"
    assert os.access(START_SCRIPT, os.X_OK)
