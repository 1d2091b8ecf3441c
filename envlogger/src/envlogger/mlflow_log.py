"""Write a capture to an MLflow run: small searchable tags, the bulk as artifacts.

Tags hold at most MLflow's `MAX_TAG_VAL_LENGTH` characters (8000 in MLflow 3), so package lists
and diffs are artifacts under `envlogger/`, and `envlogger.argv` is cut with a visible marker
while staying valid JSON. Nothing here raises into user code: a failure becomes an
`envlogger.error` tag (when the run can still be reached) and an `EnvloggerWarning`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from envlogger.snapshot import Capture, capture

ARTIFACT_DIR = "envlogger"
DEFAULT_TAG_LIMIT = 8000
ERROR_TAG = "envlogger.error"
TRUNCATION_MARKER = "...[envlogger: truncated, full value in envlogger/environment.json]"


class EnvloggerWarning(UserWarning):
    """envlogger could not record part of the provenance; the user's program goes on."""


def tag_limit() -> int:
    try:
        from mlflow.utils.validation import MAX_TAG_VAL_LENGTH

        return min(int(MAX_TAG_VAL_LENGTH), DEFAULT_TAG_LIMIT)
    except Exception:
        return 5000  # the limit of older MLflow releases


def truncate(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    return value[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def argv_tag(argv: list[str], limit: int) -> str:
    """JSON list of the arguments; when too long, trailing items become one marker item."""
    text = json.dumps(argv)
    if len(text) <= limit:
        return text
    kept: list[str] = []
    for arg in argv:
        item = arg if len(arg) <= limit // 4 else arg[: limit // 4] + "...[truncated]"
        candidate = [*kept, item]
        omitted = len(argv) - len(candidate)
        marker = f"...[envlogger: truncated, {omitted} more args in envlogger/environment.json]"
        if len(json.dumps([*candidate, marker])) > limit:
            break
        kept.append(item)
    omitted = len(argv) - len(kept)
    marker = f"...[envlogger: truncated, {omitted} more args in envlogger/environment.json]"
    return json.dumps([*kept, marker])


def build_tags(snap: Capture) -> dict[str, str]:
    limit = tag_limit()
    git = snap.git
    tags: dict[str, str] = {
        "envlogger.version": snap.envlogger_version,
        "envlogger.entry_point": snap.entry_point.describe(),
        "envlogger.argv": argv_tag(list(snap.argv), limit),
        "envlogger.env_hash": snap.env_hash,
        "envlogger.python": snap.python_version,
    }
    if git.available:
        value = snap.git_tag_value
        if value is not None:
            tags["envlogger.git"] = value
        if git.commit:
            tags["envlogger.git.commit"] = git.commit
            tags["mlflow.source.git.commit"] = git.commit
        tags["envlogger.git.dirty"] = "true" if git.dirty else "false"
        tags["envlogger.git.branch"] = git.branch or ("(detached)" if git.detached else "")
        if git.remote:
            tags["envlogger.git.remote"] = git.remote
            tags["mlflow.source.git.repoURL"] = git.remote
        if git.branch:
            tags["mlflow.source.git.branch"] = git.branch
    else:
        # Always present, so "which runs can be repeated from git?" is one search:
        # tags."envlogger.git" = 'unavailable' lists the ones that cannot.
        tags["envlogger.git"] = "unavailable"
        tags["envlogger.git.unavailable"] = git.unavailable_reason or "git-error"
    entry = snap.entry_point
    if entry.abs_path:
        tags["mlflow.source.name"] = entry.abs_path
    elif entry.module:
        tags["mlflow.source.name"] = entry.module
    tags["mlflow.source.type"] = "NOTEBOOK" if entry.kind == "notebook" else "LOCAL"
    problems = list(snap.errors)
    if snap.broken_packages:
        problems.append(f"{len(snap.broken_packages)} broken distribution metadata folder(s)")
    if problems:
        tags[ERROR_TAG] = "; ".join(problems)
    return {k: truncate(v, limit) for k, v in tags.items() if v}


def write_artifacts(snap: Capture, directory: Path) -> list[Path]:
    """environment.json, requirements.txt and git.diff (empty for a clean tree)."""
    directory.mkdir(parents=True, exist_ok=True)
    env_json = directory / "environment.json"
    env_json.write_text(snap.to_json(include_diff=False) + "\n", encoding="utf-8")
    requirements = directory / "requirements.txt"
    requirements.write_text(snap.requirements_txt(), encoding="utf-8")
    diff = directory / "git.diff"
    diff.write_bytes(snap.git.diff_bytes)
    return [env_json, requirements, diff]


def upload_artifacts(client: Any, run_id: str, snap: Capture) -> None:
    # mkdtemp, not TemporaryDirectory: the latter's weakref finalizer runs at interpreter exit,
    # possibly before the atexit hook that waits for this (background) upload to finish.
    tmp = tempfile.mkdtemp(prefix="envlogger-")
    try:
        write_artifacts(snap, Path(tmp))
        client.log_artifacts(run_id, tmp, ARTIFACT_DIR)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def warn(message: str) -> None:
    warnings.warn(f"envlogger: {message}", EnvloggerWarning, stacklevel=3)


def _set_error_tag(client: Any, run_id: str, message: str) -> None:
    try:
        client.set_tag(run_id, ERROR_TAG, truncate(message, tag_limit()))
    except Exception as err:
        warn(f"could not even record {ERROR_TAG} on run {run_id}: {err}")


def log_to_mlflow(run_id: str | None = None, snapshot: Capture | None = None) -> dict[str, str]:
    """Tag and upload artifacts to `run_id` or the active run; never raises, returns the tags."""
    try:
        import mlflow
        from mlflow.entities import RunTag
        from mlflow.tracking import MlflowClient
    except ImportError as err:
        warn(f"mlflow is not installed ({err}); install podlab-envlogger[mlflow]")
        return {}
    if run_id is None:
        active = mlflow.active_run()
        if active is None:
            warn("no active MLflow run: call mlflow.start_run() first or pass run_id")
            return {}
        run_id = active.info.run_id
    client = MlflowClient()
    try:
        snap = snapshot if snapshot is not None else capture()
        tags = build_tags(snap)
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        upload_artifacts(client, run_id, snap)
        return tags
    except Exception as err:
        message = f"{type(err).__name__}: {err}"
        warn(f"could not log provenance to run {run_id}: {message}")
        _set_error_tag(client, run_id, message)
        return {}
