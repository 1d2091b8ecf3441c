"""Against a real MLflow server (PostgreSQL backend, artifacts proxied to S3): a plain
`mlflow.start_run()` gets every tag and artifact through the entry point, with no code change."""

from __future__ import annotations

import dataclasses
import json
import warnings

import mlflow
import nbformat
import pytest
from mlflow.tracking import MlflowClient
from nbclient import NotebookClient

import envlogger
import envlogger.mlflow_log
import envlogger.mlflow_plugin
from envlogger.mlflow_log import EnvloggerWarning
from tests.envlogger.git_helpers import (
    ENVLOGGER_SRC,
    commit_all,
    git,
    make_repo,
    python_env,
    run_python,
    write,
)

TRAIN = """
import subprocess, sys
import mlflow

with mlflow.start_run() as run:
    mlflow.log_param("lr", 0.1)
print("RUN:" + run.info.run_id)
if "--commit-between" in sys.argv:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
                   check=True)
    with mlflow.start_run() as run:
        pass
    print("RUN:" + run.info.run_id)
"""

EXPECTED_TAGS = {
    "envlogger.git", "envlogger.git.commit", "envlogger.git.dirty", "envlogger.git.branch",
    "envlogger.git.remote", "envlogger.entry_point", "envlogger.argv", "envlogger.env_hash",
    "envlogger.capture_id", "envlogger.python", "envlogger.version", "mlflow.source.git.commit",
    "mlflow.source.name",
}  # fmt: skip
EXPECTED_ARTIFACTS = [
    "envlogger/environment.json",
    "envlogger/git.diff",
    "envlogger/requirements.txt",
]


def run_ids(stdout: str) -> list[str]:
    return [line[4:] for line in stdout.splitlines() if line.startswith("RUN:")]


def artifact_paths(client: MlflowClient, run_id: str) -> list[str]:
    return sorted(f.path for f in client.list_artifacts(run_id, "envlogger"))


def read_artifact(run_id: str, name: str, tmp_path) -> bytes:
    local = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=f"envlogger/{name}", dst_path=str(tmp_path / run_id)
    )
    with open(local, "rb") as fh:
        return fh.read()


def test_plain_start_run_dirty_then_commit_in_same_process(tracking, tmp_path):
    repo = make_repo(tmp_path / "repo")
    git(repo, "remote", "add", "origin", "https://ci:glpat-XYZ@gitlab.example.com/ml/repo.git")
    write(repo / "train.py", TRAIN)  # modified tracked file: the tree is dirty
    head = git(repo, "rev-parse", "HEAD")
    env = python_env({"MLFLOW_TRACKING_URI": tracking.url})
    out = run_python(["train.py", "--commit-between", "--api-key", "k-123"], cwd=repo, env=env)
    dirty_run, clean_run = run_ids(out.stdout)
    new_head = git(repo, "rev-parse", "HEAD")
    client = MlflowClient(tracking.url)

    tags = client.get_run(dirty_run).data.tags
    assert set(tags) >= EXPECTED_TAGS
    assert tags["envlogger.git"] == "dirty"
    assert tags["envlogger.git.commit"] == head
    assert tags["mlflow.source.git.commit"] == head
    assert tags["envlogger.git.dirty"] == "true"
    assert tags["envlogger.git.branch"] == "main"
    assert tags["envlogger.git.remote"] == "https://gitlab.example.com/ml/repo.git"
    assert tags["envlogger.entry_point"] == "script:train.py"
    assert tags["mlflow.source.name"] == str(repo / "train.py")
    assert json.loads(tags["envlogger.argv"]) == [
        "train.py",
        "--commit-between",
        "--api-key",
        "***",
    ]
    assert tags.get("envlogger.error") is None
    assert artifact_paths(client, dirty_run) == EXPECTED_ARTIFACTS
    diff = read_artifact(dirty_run, "git.diff", tmp_path)
    assert b"+++ b/train.py" in diff
    environment = json.loads(read_artifact(dirty_run, "environment.json", tmp_path))
    assert environment["git"]["commit"] == head
    assert environment["env_hash"] == tags["envlogger.env_hash"]
    assert "k-123" not in json.dumps(environment)
    requirements = read_artifact(dirty_run, "requirements.txt", tmp_path).decode()
    assert f"mlflow=={mlflow.__version__}" in requirements.splitlines()
    # envlogger itself is an editable install in the dev venv: `-e` with its source and commit.
    lines = requirements.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("# editable podlab_envlogger=="))
    assert lines[at].startswith(f"# editable podlab_envlogger==0.1.0 from {ENVLOGGER_SRC.parent} (")
    assert lines[at + 1] == f"-e {ENVLOGGER_SRC.parent}" or (
        lines[at + 1].startswith("-e git+") and lines[at + 1].endswith("&subdirectory=envlogger")
    )

    # The commit made between the two runs is seen: no stale sha, and the tree is clean again.
    tags = client.get_run(clean_run).data.tags
    assert tags["envlogger.git"] == new_head
    assert tags["envlogger.git.dirty"] == "false"
    assert tags["mlflow.source.git.commit"] == new_head
    assert artifact_paths(client, clean_run) == EXPECTED_ARTIFACTS
    assert read_artifact(clean_run, "git.diff", tmp_path) == b""
    assert tags["envlogger.env_hash"] == client.get_run(dirty_run).data.tags["envlogger.env_hash"]


def test_clean_tree_tags_the_commit(tracking, tmp_path):
    repo = make_repo(tmp_path / "repo", {"train.py": TRAIN})
    head = git(repo, "rev-parse", "HEAD")
    env = python_env({"MLFLOW_TRACKING_URI": tracking.url})
    (run_id,) = run_ids(run_python(["train.py"], cwd=repo, env=env).stdout)
    tags = MlflowClient(tracking.url).get_run(run_id).data.tags
    assert tags["envlogger.git"] == head
    assert tags["envlogger.git.dirty"] == "false"
    assert "envlogger.git.remote" not in tags


def test_capture_failure_becomes_error_tag_not_exception(tracking, monkeypatch):
    def broken_capture():
        raise RuntimeError("boom")

    monkeypatch.setattr(envlogger.mlflow_plugin, "capture", broken_capture)
    with pytest.warns(EnvloggerWarning) as record, mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.5)
    assert str(record[0].message) == (
        "envlogger: capture failed, run continues without provenance: RuntimeError: boom"
    )
    finished = MlflowClient(tracking.url).get_run(run.info.run_id)
    assert finished.data.tags["envlogger.error"] == "RuntimeError: boom"
    assert finished.data.metrics == {"loss": 0.5}
    assert finished.info.status == "FINISHED"


def test_upload_failure_becomes_error_tag(tracking, monkeypatch):
    def failing_upload(client, run_id, snap):
        raise OSError("disk full")

    monkeypatch.setenv("ENVLOGGER_DISABLE", "1")
    monkeypatch.setattr(envlogger.mlflow_log, "upload_artifacts", failing_upload)
    with mlflow.start_run() as run, pytest.warns(EnvloggerWarning) as record:
        assert envlogger.log_to_mlflow() == {}
    assert str(record[0].message) == (
        f"envlogger: could not log provenance to run {run.info.run_id}: OSError: disk full"
    )
    tags = MlflowClient(tracking.url).get_run(run.info.run_id).data.tags
    assert tags["envlogger.error"] == "OSError: disk full"
    assert "envlogger.capture_id" not in tags  # the provider was disabled


def test_log_to_mlflow_explicit_run_with_truncated_argv(tracking, tmp_path, monkeypatch):
    monkeypatch.setenv("ENVLOGGER_DISABLE", "1")
    repo = make_repo(tmp_path / "repo")
    snap = envlogger.capture(repo)
    long_argv = ("train.py", *[f"--feature-{i}=value-{i:05d}" for i in range(2000)])
    snap = dataclasses.replace(snap, argv=long_argv)
    client = MlflowClient(tracking.url)
    exp = client.create_experiment("envlogger-explicit")
    run_id = client.create_run(exp).info.run_id
    with warnings.catch_warnings():
        warnings.simplefilter("error", EnvloggerWarning)
        logged = envlogger.log_to_mlflow(run_id, capture=snap)
    tags = client.get_run(run_id).data.tags
    assert logged["envlogger.git"] == tags["envlogger.git"] == git(repo, "rev-parse", "HEAD")
    argv_tag = tags["envlogger.argv"]
    assert len(argv_tag) <= 8000
    items = json.loads(argv_tag)
    assert items[0] == "train.py"
    omitted = len(long_argv) - (len(items) - 1)
    assert items[-1] == (
        f"...[envlogger: truncated, {omitted} more args in envlogger/environment.json]"
    )
    assert artifact_paths(client, run_id) == EXPECTED_ARTIFACTS
    environment = json.loads(read_artifact(run_id, "environment.json", tmp_path))
    assert len(environment["argv"]) == 2001


def test_notebook_run_is_tagged_with_the_notebook(tracking, tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "nbrepo")
    nb_path = repo / "analysis.ipynb"
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.cells = [
        nbformat.v4.new_code_cell(  # type: ignore[no-untyped-call]
            "import mlflow\n"
            "with mlflow.start_run() as run:\n"
            "    mlflow.log_metric('acc', 0.9)\n"
            "print(run.info.run_id)"
        )
    ]
    nbformat.write(nb, nb_path)  # type: ignore[no-untyped-call]
    head = commit_all(repo, "notebook")
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb_path))
    for key, value in python_env({"MLFLOW_TRACKING_URI": tracking.url}).items():
        monkeypatch.setenv(key, value)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs if o["output_type"] == "stream")
    run_id = text.strip().splitlines()[-1]  # MLflow prints "View run ..." lines first
    client = MlflowClient(tracking.url)
    tags = client.get_run(run_id).data.tags
    assert tags["envlogger.entry_point"] == "notebook:analysis.ipynb"
    assert tags["mlflow.source.name"] == str(nb_path)
    assert tags["envlogger.git"] == head
    assert artifact_paths(client, run_id) == EXPECTED_ARTIFACTS


GENAI = """
import mlflow
from mlflow.genai.scorers import scorer

@scorer
def exact(outputs, expectations):
    return outputs == expectations["expected"]

data = [{"inputs": {"q": str(i)}, "expectations": {"expected": str(i)}} for i in range(6)]

def predict(q):
    with mlflow.start_run(nested=True):  # runs started from genai's worker threads too
        mlflow.log_param("q", q)
    return q

result = mlflow.genai.evaluate(data=data, predict_fn=predict, scorers=[exact])
print("RUN:" + result.run_id)
"""


def test_genai_evaluate_with_envlogger_finishes_with_provenance(tracking, tmp_path):
    """mlflow.genai.evaluate starts its run (and, here, nested runs from its worker threads)
    through the same start_run hook: the script must finish and every run get its tags and
    artifacts, uploaded before the interpreter exits."""
    repo = make_repo(tmp_path / "repo")
    write(repo / "evaluate.py", GENAI)  # a modified tracked file: dirty, so diffs are taken
    env = python_env({"MLFLOW_TRACKING_URI": tracking.url})
    result = run_python(["evaluate.py"], cwd=repo, env=env)
    (run_id,) = run_ids(result.stdout)
    client = MlflowClient(tracking.url)
    run = client.get_run(run_id)
    assert EXPECTED_TAGS - {"envlogger.git.remote"} <= set(run.data.tags)
    assert run.data.tags["envlogger.git.dirty"] == "true"
    assert artifact_paths(client, run_id) == EXPECTED_ARTIFACTS
    nested = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'"
    )
    assert nested, "the predict function's nested runs were recorded"
    for child in nested:
        assert artifact_paths(client, child.info.run_id) == EXPECTED_ARTIFACTS
    assert "EnvloggerWarning" not in result.stderr, result.stderr[-2000:]


UPLOAD_IMPORTS = """
import json, sys, threading
import mlflow
import envlogger.mlflow_plugin

class Recorder:
    \"\"\"A finder that finds nothing and notes which thread asked for which module.\"\"\"
    seen = []
    def find_spec(self, name, path=None, target=None):
        if threading.current_thread().name.startswith("envlogger-upload"):
            self.seen.append(name)
        return None

sys.meta_path.insert(0, Recorder())
with mlflow.start_run() as run:
    mlflow.log_param("lr", 0.1)
envlogger.mlflow_plugin.wait_for_uploads()
print("RUN:" + run.info.run_id)
print("UPLOAD-IMPORTS:" + json.dumps(Recorder.seen))
"""


def test_the_upload_thread_imports_nothing(tracking, tmp_path):
    """MLflow's import-hook finder takes one lock for every import, in every thread, while the
    importing thread holds Python's lock of the module it imports: a background thread that
    imports while the main thread imports (mlflow.genai.evaluate loads its scorers inside
    start_run) can deadlock both. envlogger's upload thread therefore imports nothing: the
    client, the artifact repository and the HTTP session are made and warmed in the thread
    that calls start_run."""
    repo = make_repo(tmp_path / "repo")
    write(repo / "train.py", UPLOAD_IMPORTS)
    result = run_python(
        ["train.py"], cwd=repo, env=python_env({"MLFLOW_TRACKING_URI": tracking.url})
    )
    (run_id,) = run_ids(result.stdout)
    imports = json.loads(
        next(line for line in result.stdout.splitlines() if line.startswith("UPLOAD-IMPORTS:"))[15:]
    )
    assert imports == [], f"the upload thread imported {imports}"
    assert artifact_paths(MlflowClient(tracking.url), run_id) == EXPECTED_ARTIFACTS
