"""Turn a recorded run into a self-contained shell script that repeats it.

The script embeds the diff and the requirements (base64 here-documents), so it needs neither
MLflow nor network access to the tracking server: only git, the recorded repository (local
path or remote) and a Python interpreter of the recorded minor version.
"""

from __future__ import annotations

import base64
import dataclasses
import shlex
import textwrap
from importlib import resources
from pathlib import PurePosixPath

from envlogger.packages import Package, freeze_lines
from envlogger.snapshot import Capture


class CannotReproduce(ValueError):
    """The run lacks what a reproduction needs; the message says what."""


def _relative_cwd(snap: Capture) -> str:
    entry = snap.entry_point
    root = snap.git.root
    if entry.cwd and root:
        cwd, base = PurePosixPath(entry.cwd), PurePosixPath(root)
        if cwd == base or base in cwd.parents:
            return cwd.relative_to(base).as_posix()
    if entry.path and not PurePosixPath(entry.path).is_absolute():
        return PurePosixPath(entry.path).parent.as_posix()
    return "."


def _run_command(snap: Capture) -> str:
    entry = snap.entry_point
    args = [shlex.quote(a) for a in snap.argv[1:]]
    python = '"$TARGET/venv/bin/python"'
    if entry.kind == "script" and entry.path:
        path = entry.path
        if not PurePosixPath(path).is_absolute():
            path = f'"$TARGET/src/"{shlex.quote(path)}'
        else:
            path = shlex.quote(path)
        return " ".join([python, path, *args])
    if entry.kind == "module" and entry.module:
        return " ".join([python, "-m", shlex.quote(entry.module), *args])
    if entry.kind == "notebook" and entry.path:
        nb = f'"$TARGET/src/"{shlex.quote(entry.path)}'
        return f"{python} -m jupyter nbconvert --to notebook --execute --inplace {nb}"
    if entry.kind == "pytest" and entry.test:
        return " ".join([python, "-m", "pytest", shlex.quote(entry.test)])
    return (
        f"echo 'envlogger: the run came from a {entry.kind} session, which cannot be rerun "
        "automatically; the tree and venv are ready.' >&2"
    )


def requirements_for(snap: Capture) -> str:
    """requirements.txt where editable installs from the recorded repository point into the
    reproduced checkout (`${ENVLOGGER_SRC}`, expanded by pip) instead of the original path."""
    root = PurePosixPath(snap.git.root) if snap.git.root else None
    packages: list[Package] = []
    for pkg in snap.packages:
        if pkg.editable and pkg.source and root is not None:
            src = PurePosixPath(pkg.source)
            if src == root or root in src.parents:
                rel = src.relative_to(root).as_posix()
                pkg = dataclasses.replace(
                    pkg, source="${ENVLOGGER_SRC}" + ("" if rel == "." else "/" + rel),
                    source_remote=None,
                )  # fmt: skip
        packages.append(pkg)
    return "\n".join(freeze_lines(packages)) + "\n"


def _assign(name: str, value: str) -> str:
    return f"{name}={shlex.quote(value)}"


def render_script(snap: Capture, run_id: str, diff: bytes) -> str:
    """The packaged template (`templates/reproduce.sh`) between this run's assignments and
    its command, so the shell logic is one reviewed, shellchecked file and only data varies."""
    requirements = requirements_for(snap)
    git = snap.git
    if not git.available:
        raise CannotReproduce(
            f"run {run_id} has no git state ({git.unavailable_reason}: {git.unavailable_detail}); "
            "only runs launched from a git repository can be reproduced"
        )
    if not git.commit:
        raise CannotReproduce(f"run {run_id} was made in a repository without any commit")
    py = snap.python_version
    minor = ".".join(py.split(".")[:2]) if py else "3"
    not_embedded = [f"{bf.path} ({bf.size} bytes, {bf.sha256})" for bf in git.binary_files]
    header = [
        "#!/usr/bin/env bash",
        f"# Reproduce MLflow run {run_id} (envlogger {snap.envlogger_version}).",
        f"# Recorded: commit {git.commit}{' + uncommitted changes' if git.dirty else ''}, "
        f"python {py}, entry point {snap.entry_point.describe()}.",
        "# Usage: bash reproduce.sh [TARGET_DIR]   (TARGET_DIR must not exist yet)",
        "# Environment overrides:",
        "#   ENVLOGGER_REPO       clone source (default: the recorded repository path when it",
        "#                        exists on this machine, else the recorded remote)",
        f"#   ENVLOGGER_PYTHON     interpreter for the new venv (default: python{minor})",
        "#   ENVLOGGER_VENV_ARGS  extra `python -m venv` arguments (e.g. --system-site-packages)",
        "#   ENVLOGGER_PIP_ARGS   extra `pip install` arguments (e.g. --no-index --find-links DIR)",
        "#   ENVLOGGER_NO_RUN=1   stop after preparing the tree and the venv",
        _assign("COMMIT", git.commit),
        _assign("PYTHON_DEFAULT", f"python{minor}"),
        _assign("DEFAULT_TARGET", f"envlogger-repro-{run_id[:12]}"),
        _assign("RECORDED_ROOT", git.root or ""),
        _assign("RECORDED_REMOTE", git.remote or ""),
        _assign("SUBMODULES", "1" if git.submodules else "0"),
        _assign("REDACTED", "1" if any("***" in a for a in snap.argv) else "0"),
        _assign("RUN_DIR", _relative_cwd(snap)),
        f"NOT_EMBEDDED=({' '.join(shlex.quote(m) for m in not_embedded)})",
        # Requirements stay readable (plain lines); the diff is base64 as it may hold any byte.
        _assign("REQUIREMENTS", requirements),
        _assign("DIFF_BASE64", "\n".join(textwrap.wrap(base64.b64encode(diff).decode(), 76))),
    ]
    template = resources.files("envlogger").joinpath("templates/reproduce.sh").read_text()
    return "\n".join(header) + "\n" + template + _run_command(snap) + "\n"
