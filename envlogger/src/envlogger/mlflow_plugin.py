"""MLflow run context provider: envlogger tags on every `mlflow.start_run()`, no code change.

MLflow calls `tags()` while creating a run, before the run exists, so the artifacts cannot be
uploaded there. Instead the provider tags the run with a random `envlogger.capture_id` and
hands the capture to a background thread, which finds the new run (first in MLflow's active-run
stacks, then by searching that tag) and uploads `envlogger/*` once. An `atexit` hook waits for
pending uploads (`ENVLOGGER_UPLOAD_TIMEOUT`, default 60 s) so short scripts keep their
artifacts. `tags()` is also called by MLflow for logged models and trace metadata: those get the
tags but no upload. Set `ENVLOGGER_DISABLE=1` to switch the provider off.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import sys
import threading
import time
import uuid
from types import FrameType
from typing import Any

from mlflow.tracking.context.abstract_context import RunContextProvider

from envlogger.mlflow_log import ERROR_TAG, build_tags, truncate, upload_artifacts, warn
from envlogger.snapshot import Capture, capture

CAPTURE_ID_TAG = "envlogger.capture_id"
_POLL_S = 0.005
_SEARCH_EVERY_S = 0.5
_pending: list[threading.Thread] = []
_pending_lock = threading.Lock()


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _upload_timeout() -> float:
    try:
        return float(os.environ.get("ENVLOGGER_UPLOAD_TIMEOUT", "60"))
    except ValueError:
        return 60.0


def _start_run_frame() -> FrameType | None:
    """The frame of `mlflow.tracking.fluent.start_run` if it is what called us."""
    frame: FrameType | None = sys._getframe(1)
    for _ in range(12):
        if frame is None:
            return None
        if (
            frame.f_code.co_name == "start_run"
            and frame.f_globals.get("__name__") == "mlflow.tracking.fluent"
        ):
            return frame
        frame = frame.f_back
    return None


def _find_in_stacks(capture_id: str) -> str | None:
    try:
        from mlflow.tracking.fluent import _active_run_stack

        stacks = _active_run_stack.get_all_thread_values().values()
    except Exception:
        return None
    for stack in list(stacks):
        for run in list(stack):
            if run.data.tags.get(CAPTURE_ID_TAG) == capture_id:
                return str(run.info.run_id)
    return None


def _find_by_search(client: Any, experiment_id: str | None, capture_id: str) -> str | None:
    if experiment_id is None:
        return None
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`{CAPTURE_ID_TAG}` = '{capture_id}'", max_results=1
    )
    return str(runs[0].info.run_id) if runs else None


def _quiet_imports() -> Any:
    """Make what the upload thread needs in the calling thread, so that thread imports nothing.

    MLflow's import-hook finder takes one lock for every import in every thread, while the
    importing thread holds Python's lock of the module it imports: a background import next to
    the main thread's imports (mlflow.genai.evaluate loads its scorers inside start_run) can
    deadlock both. So the client (and the modules behind it) is made here, and `dbruntime`,
    which MLflow tries to import on every Databricks check of every client call, is recorded
    as absent when it is not installed (sys.modules[name] = None: the import fails at once,
    without the finders).
    """
    from mlflow.entities import RunTag  # noqa: F401 (imported here, used by the thread)
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository  # noqa: F401
    from mlflow.tracking import MlflowClient

    if "dbruntime" not in sys.modules and importlib.util.find_spec("dbruntime") is None:
        sys.modules["dbruntime"] = None  # type: ignore[assignment]
    return MlflowClient


def _upload_when_created(
    snap: Capture, capture_id: str, experiment_id: str | None, client: Any
) -> None:
    deadline = time.monotonic() + _upload_timeout()
    next_search = time.monotonic() + _SEARCH_EVERY_S
    run_id: str | None = None
    try:
        while run_id is None and time.monotonic() < deadline:
            run_id = _find_in_stacks(capture_id)
            if run_id is None and time.monotonic() >= next_search:
                run_id = _find_by_search(client, experiment_id, capture_id)
                next_search = time.monotonic() + _SEARCH_EVERY_S
            if run_id is None:
                time.sleep(_POLL_S)
        if run_id is None:
            warn(f"run with {CAPTURE_ID_TAG}={capture_id} not found; artifacts not uploaded")
            return
        upload_artifacts(client, run_id, snap)
    except Exception as err:
        message = f"artifact upload failed: {type(err).__name__}: {err}"
        warn(message)
        if run_id is not None:
            try:
                client.set_tag(run_id, ERROR_TAG, truncate(message, 5000))
            except Exception as tag_err:
                warn(f"could not record {ERROR_TAG}: {tag_err}")


def wait_for_uploads(timeout: float | None = None) -> bool:
    """Block until pending artifact uploads finish; True when none is left."""
    limit = _upload_timeout() if timeout is None else timeout
    deadline = time.monotonic() + limit
    with _pending_lock:
        threads = list(_pending)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with _pending_lock:
        _pending[:] = [t for t in _pending if t.is_alive()]
        return not _pending


_atexit_registered = False


def _register_atexit() -> None:
    # Registered on first use, so it runs before hooks registered at import time (atexit is
    # LIFO), e.g. MLflow's own, while the uploading thread still has a working client.
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(wait_for_uploads)
        _atexit_registered = True


class EnvloggerRunContextProvider(RunContextProvider):
    """Registered under the `mlflow.run_context_provider` entry point group."""

    def in_context(self) -> bool:
        return not _env_flag("ENVLOGGER_DISABLE")

    def tags(self) -> dict[str, str]:
        try:
            snap = capture()
            tags = build_tags(snap)
            frame = _start_run_frame()
            if frame is not None:
                capture_id = uuid.uuid4().hex
                tags[CAPTURE_ID_TAG] = capture_id
                exp = frame.f_locals.get("exp_id_for_run")
                del frame
                import mlflow

                client = _quiet_imports()(tracking_uri=mlflow.get_tracking_uri())
                thread = threading.Thread(
                    target=_upload_when_created,
                    args=(snap, capture_id, None if exp is None else str(exp), client),
                    name=f"envlogger-upload-{capture_id[:8]}",
                    daemon=True,
                )  # fmt: skip
                _register_atexit()
                with _pending_lock:
                    _pending[:] = [t for t in _pending if t.is_alive()]
                    _pending.append(thread)
                thread.start()
            return tags
        except Exception as err:
            message = f"{type(err).__name__}: {err}"
            warn(f"capture failed, run continues without provenance: {message}")
            return {ERROR_TAG: message}
