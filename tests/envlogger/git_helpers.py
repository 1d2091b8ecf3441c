"""Real git repositories and real Python processes for the envlogger tests."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from podlab.localstack.paths import REPO_ROOT

ENVLOGGER_SRC = REPO_ROOT / "envlogger" / "src"
GIT_IDENTITY = ["-c", "user.name=envlogger test", "-c", "user.email=test@podlab.invalid"]


def git(repo: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["git", *GIT_IDENTITY, "-c", "protocol.file.allow=always", *args],
        cwd=repo, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


def make_repo(path: Path, files: dict[str, str | bytes] | None = None) -> Path:
    """A repository with one commit holding `files` (default: README.md and train.py)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for name, content in (files or {"README.md": "# demo\n", "train.py": "print('hi')\n"}).items():
        write(path / name, content)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def commit_all(repo: Path, message: str = "change") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ENVLOGGER_SRC), *filter(None, [env.get("PYTHONPATH")])]
    )
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(extra or {})
    return env


def run_python(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, python: str = sys.executable
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [python, *args], cwd=cwd, env=env or python_env(), capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(
            f"{args} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


PROBE = """
import json, sys
import envlogger
snap = envlogger.capture()
print("ENVLOGGER-JSON:" + json.dumps(snap.to_dict()))
"""


def probe_output(stdout: str) -> Any:
    for line in stdout.splitlines():
        if line.startswith("ENVLOGGER-JSON:"):
            data = json.loads(line[len("ENVLOGGER-JSON:") :])
            return data
    raise AssertionError(f"no capture printed; stdout was:\n{stdout}")


def tree_hashes(repo: Path) -> dict[bytes, str]:
    """sha256 of every tracked or untracked, non-ignored file (raw byte names)."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=repo, capture_output=True,
        check=True,
    ).stdout  # fmt: skip
    hashes: dict[bytes, str] = {}
    for raw in filter(None, out.split(b"\0")):
        path = repo / os.fsdecode(raw)
        if path.is_symlink():
            hashes[raw] = "link:" + os.readlink(path)
        elif path.is_file():
            mode = "x" if os.access(path, os.X_OK) else "-"
            hashes[raw] = mode + hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes
