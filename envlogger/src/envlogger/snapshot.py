"""One immutable snapshot of everything needed to repeat a run.

Every part is captured independently: a broken dist-info, a git that refuses the repository or
an exotic entry point degrades that part (recorded in `errors` / `unavailable_reason`) and
never the rest, and `capture()` itself does not raise.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from envlogger.entrypoint import EntryPoint, RawEntryPoint, detect_raw, redact_argv, resolve
from envlogger.gitstate import GitProbe, GitState, find_root, unavailable
from envlogger.packages import BrokenDistribution, Package, freeze_lines, scan_packages
from envlogger.runtime import capture_runtime

SCHEMA_VERSION = 1


def _version() -> str:
    from envlogger import __version__

    return __version__


@dataclass(frozen=True)
class Capture:
    """The provenance of one run. Frozen; `to_dict()` returns a fresh JSON-ready dict."""

    git: GitState
    entry_point: EntryPoint
    argv: tuple[str, ...]
    orig_argv: tuple[str, ...]
    packages: tuple[Package, ...]
    broken_packages: tuple[BrokenDistribution, ...]
    runtime_json: str
    captured_at: str
    duration_ms: float
    errors: tuple[str, ...] = field(default=())
    envlogger_version: str = ""
    schema_version: int = SCHEMA_VERSION

    @property
    def runtime(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.runtime_json)
        return value

    @property
    def python_version(self) -> str:
        return str(self.runtime.get("python", {}).get("version", ""))

    @property
    def env_hash(self) -> str:
        """sha256 over the Python version and the sorted `name==version` list."""
        python = self.runtime.get("python", {})
        lines = [f"python {python.get('implementation', '')} {python.get('version', '')}"]
        lines += sorted(f"{p.key}=={p.version}" for p in self.packages)
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    @property
    def git_tag_value(self) -> str | None:
        """`envlogger.git`: the commit, or `dirty`; None when git is unavailable."""
        if not self.git.available or (self.git.commit is None and not self.git.dirty):
            return None
        return "dirty" if self.git.dirty else self.git.commit

    def requirements_txt(self) -> str:
        header = [
            f"# envlogger {self.envlogger_version}: {len(self.packages)} distributions, "
            f"python {self.python_version}, captured {self.captured_at}",
        ]
        return "\n".join(header + freeze_lines(self.packages)) + "\n"

    def to_dict(self, include_diff: bool = True) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "envlogger_version": self.envlogger_version,
            "captured_at": self.captured_at,
            "duration_ms": round(self.duration_ms, 3),
            "git": self.git.to_dict(include_diff=include_diff),
            "entry_point": self.entry_point.to_dict(),
            "argv": list(self.argv),
            "orig_argv": list(self.orig_argv),
            "packages": [p.to_dict() for p in self.packages],
            "broken_packages": [b.to_dict() for b in self.broken_packages],
            "runtime": self.runtime,
            "env_hash": self.env_hash,
            "errors": list(self.errors),
        }

    def to_json(self, include_diff: bool = True) -> str:
        return json.dumps(self.to_dict(include_diff=include_diff), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Capture:
        return cls(
            git=GitState.from_dict(data.get("git", {})),
            entry_point=EntryPoint.from_dict(data.get("entry_point", {})),
            argv=tuple(data.get("argv", ())),
            orig_argv=tuple(data.get("orig_argv", ())),
            packages=tuple(Package.from_dict(p) for p in data.get("packages", ())),
            broken_packages=tuple(
                BrokenDistribution(b["path"], b["error"]) for b in data.get("broken_packages", ())
            ),
            runtime_json=json.dumps(data.get("runtime", {})),
            captured_at=data.get("captured_at", ""),
            duration_ms=float(data.get("duration_ms", 0.0)),
            errors=tuple(data.get("errors", ())),
            envlogger_version=data.get("envlogger_version", ""),
            schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
        )


def _default_start_dir(raw: RawEntryPoint) -> Path:
    if raw.file is not None:
        parent = raw.file.parent
        if parent.is_dir():
            return parent
    return Path.cwd()


def _start_editable_probes(
    packages: tuple[Package, ...], main_root: Path | None, errors: list[str]
) -> tuple[dict[str, Path], dict[Path, GitProbe]]:
    """Start one git probe per source repository of editable installs (not the run's own).

    They run concurrently with the run's own `git status`; several packages of one
    repository share a probe.
    """
    sources: dict[str, Path] = {}
    probes: dict[Path, GitProbe] = {}
    for pkg in packages:
        if pkg.editable and pkg.source:
            try:
                source = Path(pkg.source).resolve()
                if not source.is_dir():
                    continue
                root = find_root(source) or source
                sources[pkg.key] = root
                if root != main_root and root not in probes:
                    probes[root] = GitProbe(root, with_diff=False, light=True)
            except Exception as err:
                errors.append(f"editable {pkg.name}: {type(err).__name__}: {err}")
    return sources, probes


def _with_editable_sources(
    packages: tuple[Package, ...],
    main: GitState,
    sources: dict[str, Path],
    probes: dict[Path, GitProbe],
) -> tuple[Package, ...]:
    """Add the commit and dirty state of each editable install's source repository."""
    states = {root: probe.finish() for root, probe in probes.items()}
    out: list[Package] = []
    for pkg in packages:
        root = sources.get(pkg.key) if pkg.editable else None
        if root is not None and pkg.source:
            state = states.get(root, main)
            subdir = None
            if state.root:
                source = Path(pkg.source).resolve()
                subdir = Path(os.path.relpath(source, Path(state.root).resolve())).as_posix()
            pkg = dataclasses.replace(
                pkg,
                source_commit=state.commit,
                source_dirty=state.dirty,
                source_remote=state.remote,
                source_subdir=subdir,
            )
        out.append(pkg)
    return tuple(out)


def capture(start_dir: str | os.PathLike[str] | None = None) -> Capture:
    """Snapshot git state, entry point, argv, packages and runtime. Never raises.

    `start_dir` chooses the repository; by default it is the folder of the launched file
    (script, module or notebook), else the current directory.
    """
    started = time.perf_counter()
    errors: list[str] = []
    try:
        raw = detect_raw()
    except Exception as err:
        errors.append(f"entry_point: {type(err).__name__}: {err}")
        raw = RawEntryPoint("unknown", None)
    probe: GitProbe | None = None
    try:
        base = Path(start_dir) if start_dir is not None else _default_start_dir(raw)
        probe = GitProbe(base.expanduser().resolve())  # git runs while we read sys.path
    except Exception as err:
        errors.append(f"git: {type(err).__name__}: {err}")
    try:
        pkgs = scan_packages()
        packages, broken = pkgs.packages, pkgs.broken
    except Exception as err:
        errors.append(f"packages: {type(err).__name__}: {err}")
        packages, broken = (), ()
    sources: dict[str, Path] = {}
    editable_probes: dict[Path, GitProbe] = {}
    try:
        main_root = probe.root.resolve() if probe is not None and probe.root else None
        sources, editable_probes = _start_editable_probes(packages, main_root, errors)
    except Exception as err:
        errors.append(f"packages: {type(err).__name__}: {err}")
    try:
        runtime_json = json.dumps(capture_runtime())
    except Exception as err:
        errors.append(f"runtime: {type(err).__name__}: {err}")
        runtime_json = "{}"
    git = probe.finish() if probe is not None else unavailable("git-error", errors[-1])
    errors.extend(f"git: {e}" for e in git.errors)
    try:
        packages = _with_editable_sources(packages, git, sources, editable_probes)
    except Exception as err:
        errors.append(f"packages: {type(err).__name__}: {err}")
    try:
        entry = resolve(raw, git.root)
    except Exception as err:
        errors.append(f"entry_point: {type(err).__name__}: {err}")
        entry = EntryPoint(kind=raw.kind)
    argv = redact_argv(list(sys.argv))
    orig_argv = redact_argv(list(getattr(sys, "orig_argv", sys.argv)))
    return Capture(
        git=git,
        entry_point=entry,
        argv=tuple(argv),
        orig_argv=tuple(orig_argv),
        packages=packages,
        broken_packages=broken,
        runtime_json=runtime_json,
        captured_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        duration_ms=(time.perf_counter() - started) * 1000,
        errors=tuple(errors),
        envlogger_version=_version(),
    )
