"""envlogger: complete, cheap run provenance for MLflow runs.

`capture()` snapshots the git state (commit or dirty, diff, untracked files), the entry point,
argv (secrets redacted), every installed distribution and the runtime; `log_to_mlflow()` writes
it to a run. Installing the package is enough for a plain `mlflow.start_run()` to get the tags:
it registers an `mlflow.run_context_provider` entry point.
"""

from __future__ import annotations

from typing import Any

from envlogger.entrypoint import redact_argv
from envlogger.snapshot import Capture, capture

__version__ = "0.1.0"
__all__ = ["Capture", "__version__", "capture", "log_to_mlflow", "redact_argv"]


def log_to_mlflow(run_id: str | None = None, capture: Capture | None = None) -> dict[str, str]:
    """Log tags and artifacts to the active run (or `run_id`). Never raises; returns the tags.

    Pass a `capture` taken elsewhere (another process, earlier in the run) to log that one.
    """
    from envlogger.mlflow_log import log_to_mlflow as _log

    result: dict[str, Any] = _log(run_id=run_id, snapshot=capture)
    return {str(k): str(v) for k, v in result.items()}
