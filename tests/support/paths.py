"""Re-export of `podlab.localstack.paths` for the test fixtures."""

from podlab.localstack.paths import (
    REPO_ROOT,
    SETUP_HINT,
    TOOLS_BIN,
    new_log_dir,
    new_work_dir,
    tool,
)

__all__ = ["REPO_ROOT", "SETUP_HINT", "TOOLS_BIN", "new_log_dir", "new_work_dir", "tool"]
