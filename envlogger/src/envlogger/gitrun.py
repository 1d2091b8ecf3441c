"""Run the `git` executable the same careful way everywhere.

Capture must never change the repository it inspects nor hang on a prompt, so every call sets
`GIT_OPTIONAL_LOCKS=0` (a plain `git status` would otherwise refresh and lock the index under a
running `git commit`), disables terminal prompts and pagers, and forces the C locale so the
error messages we classify are the English ones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

GIT_TIMEOUT_S = 20.0

_ENV_OVERRIDES = {
    "GIT_OPTIONAL_LOCKS": "0",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_PAGER": "cat",
    "PAGER": "cat",
    "LC_ALL": "C",
    "LANGUAGE": "C",
}
# Variables that would point git at another repository than the one asked for.
_ENV_REMOVED = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CEILING_DIRECTORIES")


class GitUnavailable(Exception):
    """git cannot describe this directory; `reason` is one of the documented codes."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class GitResult:
    returncode: int
    stdout: bytes
    stderr: str


def find_git() -> str | None:
    return shutil.which("git")


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _ENV_REMOVED}
    env.update(_ENV_OVERRIDES)
    return env


def classify_failure(stderr: str) -> str:
    """Map git's error text to an `unavailable_reason` code."""
    text = stderr.lower()
    if "dubious ownership" in text or "unsafe repository" in text:
        return "dubious-ownership"
    if "not a git repository" in text:
        return "not-a-repo"
    return "git-error"


class PendingGit:
    """A git process already running; `result()` waits for it.

    Starting the few independent git queries of a capture at once, and reading sys.path
    while they run, is what keeps a capture within a few process start-up times.
    """

    def __init__(
        self, git: str, cwd: Path, args: Sequence[str], env: dict[str, str] | None = None
    ) -> None:
        self.args = list(args)
        self.cwd = cwd
        self.error: GitUnavailable | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        argv = [git, "-c", "core.quotePath=true", "-c", "color.ui=false", *args]
        if not os.path.isdir(cwd):
            self.error = GitUnavailable("not-a-repo", f"{cwd} is not an existing folder")
            return
        try:
            self.proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env if env is not None else git_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except FileNotFoundError as err:
            self.error = GitUnavailable("no-git-executable", f"git executable not found: {err}")
        except OSError as err:
            self.error = GitUnavailable("git-error", f"could not run git in {cwd}: {err}")

    def result(self, check: bool = True) -> GitResult:
        if self.error is not None:
            raise self.error
        assert self.proc is not None
        try:
            out, err = self.proc.communicate(timeout=GIT_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            self.proc.kill()
            self.proc.communicate()
            raise GitUnavailable(
                "git-error", f"`git {' '.join(self.args)}` timed out after {GIT_TIMEOUT_S:.0f}s"
            ) from exc
        stderr = err.decode("utf-8", "replace").strip()
        code = self.proc.returncode
        if check and code != 0:
            raise GitUnavailable(classify_failure(stderr), stderr or f"git exited {code}")
        return GitResult(code, out, stderr)


def run_git(
    git: str,
    cwd: Path,
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> GitResult:
    """Run `git -C cwd args` and wait; with `check`, a non-zero exit raises GitUnavailable.

    The same process handling as a PendingGit started and awaited at once, so both paths
    classify failures and time out alike.
    """
    return PendingGit(git, cwd, args, env).result(check=check)
