"""Entry points, detected in the real launch modes: script, `-m`, notebook kernel, pytest."""

from __future__ import annotations

import json
import os

import nbformat
import pytest
from nbclient import NotebookClient

import envlogger
from tests.envlogger.git_helpers import (
    ENVLOGGER_SRC,
    PROBE,
    commit_all,
    git,
    make_repo,
    probe_output,
    run_python,
    write,
)


def test_script_entry_point_relative_to_repo_root(tmp_path):
    repo = make_repo(tmp_path / "repo")
    write(repo / "experiments" / "train.py", PROBE)
    commit_all(repo)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Launched from outside the repository: the script's repository is the one recorded.
    out = run_python([str(repo / "experiments" / "train.py"), "--lr", "0.1"], cwd=elsewhere)
    data = probe_output(out.stdout)
    assert data["entry_point"]["kind"] == "script"
    assert data["entry_point"]["path"] == "experiments/train.py"
    assert data["entry_point"]["cwd"] == str(elsewhere)
    assert data["git"]["commit"] == git(repo, "rev-parse", "HEAD")
    assert data["git"]["dirty"] is False
    assert data["argv"] == [str(repo / "experiments" / "train.py"), "--lr", "0.1"]


def test_module_entry_point(tmp_path):
    repo = make_repo(tmp_path / "repo")
    write(repo / "pkg" / "__init__.py", "")
    write(repo / "pkg" / "train.py", PROBE)
    out = run_python(["-m", "pkg.train", "--epochs", "3"], cwd=repo)
    data = probe_output(out.stdout)
    assert data["entry_point"]["kind"] == "module"
    assert data["entry_point"]["module"] == "pkg.train"
    assert data["entry_point"]["path"] == "pkg/train.py"
    assert data["argv"][1:] == ["--epochs", "3"]
    assert "-m" in data["orig_argv"]
    assert data["git"]["dirty"] is True  # pkg/ is untracked
    assert "pkg/train.py" in data["git"]["untracked"]


def test_command_entry_point(tmp_path):
    repo = make_repo(tmp_path / "repo")
    out = run_python(["-c", PROBE], cwd=repo)
    data = probe_output(out.stdout)
    assert data["entry_point"]["kind"] == "command"
    assert data["git"]["root"] == str(repo)


def test_pytest_entry_point():
    snap = envlogger.capture()
    entry = snap.entry_point
    assert entry.kind == "pytest"
    assert entry.test == "tests/envlogger/test_entry_point.py::test_pytest_entry_point"
    assert entry.path == "tests/envlogger/test_entry_point.py"


@pytest.mark.parametrize(
    ("current", "recorded"),
    [
        ("tests/a.py::test_x@tests/a.py (call)", "tests/a.py::test_x"),
        ("tests/a.py::test_x[u@example.org]@kube (setup)", "tests/a.py::test_x[u@example.org]"),
        ("tests/a.py::test_x[u@example.org] (call)", "tests/a.py::test_x[u@example.org]"),
        ("tests/a@b.py::test_x (call)", "tests/a@b.py::test_x"),
    ],
)
def test_pytest_entry_point_under_xdist_groups_is_the_test_id(monkeypatch, current, recorded):
    """pytest-xdist's loadgroup appends `@group` to the id a test runs under (make test)."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    monkeypatch.setenv("PYTEST_CURRENT_TEST", current)
    assert envlogger.capture().entry_point.test == recorded


def test_notebook_in_real_kernel(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "nbrepo")
    nb_path = repo / "notebooks" / "explore.ipynb"
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.cells = [
        nbformat.v4.new_code_cell(  # type: ignore[no-untyped-call]
            f"import sys; sys.path.insert(0, {str(ENVLOGGER_SRC)!r})\n"
            "import json, envlogger\n"
            "snap = envlogger.capture()\n"
            "print(json.dumps(snap.to_dict()))"
        )
    ]
    nb_path.parent.mkdir(parents=True)
    nbformat.write(nb, nb_path)  # type: ignore[no-untyped-call]
    head = commit_all(repo, "add notebook")
    kernel_cwd = tmp_path / "kernel-cwd"  # not inside the notebook's repository
    kernel_cwd.mkdir()
    # jupyter_server exports the notebook path to each kernel it starts as JPY_SESSION_NAME.
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb_path))
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(kernel_cwd)}}
    )
    client.execute()
    outputs = nb.cells[0].outputs
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert text, f"notebook produced no output: {outputs}"
    data = json.loads(text)
    assert data["entry_point"]["kind"] == "notebook"
    assert data["entry_point"]["path"] == "notebooks/explore.ipynb"
    assert data["entry_point"]["cwd"] == str(kernel_cwd)
    assert data["git"]["root"] == str(repo)
    assert data["git"]["commit"] == head
    assert data["git"]["dirty"] is False
    assert "ipykernel" in data["argv"][0]
    assert os.path.basename(data["entry_point"]["abs_path"]) == "explore.ipynb"
