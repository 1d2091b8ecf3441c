"""Where the repository, its project-local tools and the test logs are.

The local stack runs from a checkout (`make up`, the tests), so the repository root is found
from this file's location in the editable install; `PODLAB_REPO_ROOT` overrides it.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def _repo_root() -> Path:
    if os.environ.get("PODLAB_REPO_ROOT"):
        return Path(os.environ["PODLAB_REPO_ROOT"]).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "Makefile").is_file() and (parent / "hub" / "pyproject.toml").is_file():
            return parent
    return Path.cwd()


REPO_ROOT = _repo_root()
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
