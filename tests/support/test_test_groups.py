"""`make test` runs pytest-xdist with `--dist loadgroup` and the groups of tests/conftest.py:
this checks that the groups really reach the scheduler (pytest 9.2 silently dropped them,
pytest-dev/pytest-xdist#1386), with the real hook, in a small pytest session of its own."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from podlab.localstack.paths import REPO_ROOT

CONFTEST = """
import pytest
from tests.conftest import pytest_collection_modifyitems  # the hook under test

@pytest.fixture(scope="session")
def kube():
    return "bed"

@pytest.fixture(scope="session")
def podlab_release(kube):
    return "release"
"""
TESTS = {
    "test_bed_a.py": "def test_one(kube): pass\ndef test_two(kube): pass\n",
    "test_bed_b.py": "def test_three(kube): pass\n",
    "test_release.py": "def test_four(podlab_release): pass\ndef test_five(podlab_release): pass\n",
    "test_plain.py": "".join(f"def test_p{i}(): pass\n" for i in range(6)),
}


def test_the_test_bed_groups_run_in_one_worker_each(tmp_path: Path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    for name, text in TESTS.items():
        (tmp_path / name).write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v",
         "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ran = re.findall(r"\[(gw\d)\] .*PASSED (\S+)", proc.stdout)
    assert len(ran) == 11, proc.stdout
    workers: dict[str, set[str]] = {}
    for worker, nodeid in ran:
        group = nodeid.rpartition("@")[2] if "@" in nodeid else ""
        workers.setdefault(group, set()).add(worker)
    for group in ("kube", "kube-release", "test_plain.py"):
        assert len(workers.get(group, ())) == 1, f"{group}:\n{proc.stdout}"
    assert "" not in workers, f"tests without a group:\n{proc.stdout}"
