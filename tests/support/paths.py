"""Where the repository, its project-local tools and the test logs are."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO_ROOT / "tools" / "bin"
SETUP_HINT = "run `make setup` (it installs every test dependency into .venv/ and tools/)"


def tool(name: str) -> str:
    """A project-local tool from tools/bin if present, else the bare name (looked up on PATH)."""
    local = TOOLS_BIN / name
    return str(local) if local.exists() else name


def new_log_dir() -> Path:
    """One folder per test session under .test-logs/ (or $PODLAB_TEST_LOG_DIR), kept after the run.

    `.test-logs/latest` points at the newest one, so a failure's logs are one `ls` away.
    """
    root = Path(os.environ.get("PODLAB_TEST_LOG_DIR", REPO_ROOT / ".test-logs"))
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=time.strftime("session-%Y%m%d-%H%M%S-"), dir=root))
    latest = root / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(path.name)
    except OSError:
        pass  # another session raced us to the link; the folder itself is what matters
    return path


def new_work_dir(prefix: str) -> Path:
    """A temp dir that other local users (the `postgres` user) can traverse."""
    path = Path(tempfile.mkdtemp(prefix=f"podlab-{prefix}-"))
    path.chmod(0o755)
    return path
