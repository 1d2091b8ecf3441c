"""Installed distributions, read from metadata folder names on sys.path.

`pip freeze` costs about a second in a subprocess and `importlib.metadata` opens every METADATA
file; the folder name `<name>-<version>.dist-info` already holds both, so one `os.scandir` per
sys.path entry is enough for thousands of distributions. METADATA is only opened for folders
whose name lacks a version (old `.egg-info`), and `direct_url.json` only for the few
distributions that left an editable-install marker (`__editable__.*.pth`, `*.egg-link`, a
`.pth` named after the project), so editable installs cost nothing when there are none.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

# Excluded from requirements.txt, like `pip freeze` does: the venv bootstraps its own.
FREEZE_EXCLUDED = frozenset({"pip", "setuptools", "wheel", "distribute"})


_RUNS = re.compile(r"[-_.]+")


def canonical_name(name: str) -> str:
    """PEP 503 normalised name: `Foo_Bar.baz` -> `foo-bar-baz`."""
    fast = name.replace("_", "-").replace(".", "-").lower()
    return fast if "--" not in fast else _RUNS.sub("-", name).lower()


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    location: str
    editable: bool = False
    source: str | None = None
    source_commit: str | None = None
    source_dirty: bool | None = None
    source_remote: str | None = None
    source_subdir: str | None = None

    @property
    def key(self) -> str:
        return canonical_name(self.name)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "version": self.version}
        if self.editable:
            data.update(
                editable=True,
                source=self.source,
                source_commit=self.source_commit,
                source_dirty=self.source_dirty,
                source_remote=self.source_remote,
                source_subdir=self.source_subdir,
            )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Package:
        return cls(
            name=data["name"],
            version=data["version"],
            location=data.get("location", ""),
            editable=bool(data.get("editable", False)),
            source=data.get("source"),
            source_commit=data.get("source_commit"),
            source_dirty=data.get("source_dirty"),
            source_remote=data.get("source_remote"),
            source_subdir=data.get("source_subdir"),
        )


@dataclass(frozen=True)
class BrokenDistribution:
    path: str
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "error": self.error}


@dataclass(frozen=True)
class PackageSet:
    packages: tuple[Package, ...]
    broken: tuple[BrokenDistribution, ...]


def _metadata_field(text: str, field_name: str) -> str | None:
    prefix = field_name + ":"
    for line in text.splitlines():
        if not line.strip():
            break  # headers end at the first blank line; the body is the description
        if line.startswith(prefix):
            return line[len(prefix) :].strip() or None
    return None


def _read_metadata(path: Path) -> tuple[str, str]:
    """Name and version from METADATA / PKG-INFO; raises ValueError with a readable reason."""
    candidates = [path / "METADATA", path / "PKG-INFO"] if path.is_dir() else [path]
    for candidate in candidates:
        try:
            text = candidate.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            continue
        except OSError as err:
            raise ValueError(f"cannot read {candidate.name}: {err.strerror}") from err
        name, version = _metadata_field(text, "Name"), _metadata_field(text, "Version")
        if not name or not version:
            raise ValueError(f"{candidate.name} has no Name/Version header")
        return name, version
    raise ValueError("no version in the folder name and no METADATA/PKG-INFO file")


def _split_folder(stem: str) -> tuple[str, str | None]:
    """`foo_bar-1.2.dist-info` stem -> (foo_bar, 1.2); egg-info may add `-py3.11`."""
    name, sep, rest = stem.partition("-")
    if not sep or not name or not rest:
        return name, None
    version = rest.split("-", 1)[0] if "-py" in rest else rest
    return name, version or None


def _editable_hints(entries: list[str]) -> tuple[set[str], dict[str, str]]:
    """Canonical names that may be editable, and egg-link name -> source path."""
    names: set[str] = set()
    egg_links: dict[str, str] = {}
    for entry in entries:
        if entry.endswith(".pth"):
            stem = entry[: -len(".pth")]
            if stem.startswith("__editable__."):
                stem = stem[len("__editable__.") :]
            stem = _split_folder(stem.lstrip("_"))[0]
            names.add(canonical_name(stem))
        elif entry.startswith("__editable___") and entry.endswith("_finder.py"):
            stem = entry[len("__editable___") : -len("_finder.py")]
            names.add(canonical_name(re.sub(r"_\d.*$", "", stem)))
        elif entry.endswith(".egg-link"):
            names.add(canonical_name(entry[: -len(".egg-link")]))
            egg_links[canonical_name(entry[: -len(".egg-link")])] = entry
    return names, egg_links


def _editable_source(dist_dir: Path) -> str | None:
    try:
        data = json.loads((dist_dir / "direct_url.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("dir_info", {}).get("editable"):
        return None
    url = str(data.get("url", ""))
    if not url.startswith("file:"):
        return None
    return unquote(urlsplit(url).path)


_META_SUFFIXES = (".dist-info", ".egg-info")
_HINT_SUFFIXES = (".pth", ".egg-link", "_finder.py")


def scan_packages(paths: Iterable[str] | None = None) -> PackageSet:
    """Every distribution visible on `paths` (default sys.path); first one found wins."""
    found: dict[str, Package] = {}
    broken: list[BrokenDistribution] = []
    seen_dirs: set[str] = set()
    for entry in sys.path if paths is None else paths:
        base = entry or os.getcwd()
        if base in seen_dirs:
            continue
        seen_dirs.add(base)
        try:
            names = os.listdir(base)
        except OSError:
            continue  # zip files, missing directories: nothing installed there
        metas: list[str] = []
        hints: list[str] = []
        for item in names:
            if item.endswith(_META_SUFFIXES):
                metas.append(item)
            elif item.endswith(_HINT_SUFFIXES):
                hints.append(item)
        editable_names, egg_links = _editable_hints(hints) if hints else (set(), {})
        for item in metas:
            stem = item[:-10] if item[-10:] == ".dist-info" else item[:-9]
            name, version = _split_folder(stem)
            if version is None:
                path = Path(base, item)
                try:
                    name, version = _read_metadata(path)
                except ValueError as err:
                    broken.append(BrokenDistribution(str(path), str(err)))
                    continue
            key = canonical_name(name)
            if key in found:
                continue
            pkg = Package(name, version, base)
            if key in editable_names:
                source = _editable_source(Path(base, item))
                if source is None and key in egg_links:
                    try:
                        source = Path(base, egg_links[key]).read_text().splitlines()[0].strip()
                    except (OSError, IndexError):
                        source = None
                if source is not None:
                    pkg = Package(name=name, version=version, location=base, editable=True,
                                  source=source)  # fmt: skip
            found[key] = pkg
    return PackageSet(tuple(found[key] for key in sorted(found)), tuple(broken))


def freeze_lines(packages: Iterable[Package]) -> list[str]:
    """requirements.txt in `pip freeze` format; editable installs as `-e` with their commit."""
    lines: list[str] = []
    for pkg in packages:
        if pkg.key in FREEZE_EXCLUDED:
            continue
        if pkg.editable and pkg.source:
            state = "dirty" if pkg.source_dirty else "clean"
            commit = pkg.source_commit or "no git commit"
            lines.append(
                f"# editable {pkg.name}=={pkg.version} from {pkg.source} ({commit}, {state})"
            )
            if pkg.source_remote and pkg.source_commit:
                url = pkg.source_remote
                if not url.startswith(("git+", "http", "ssh://", "file:")) and ":" in url:
                    url = "ssh://" + url.replace(":", "/", 1)  # scp-style git@host:org/repo
                fragment = f"#egg={pkg.name.replace('-', '_')}"
                if pkg.source_subdir and pkg.source_subdir != ".":
                    fragment += f"&subdirectory={pkg.source_subdir}"
                prefix = "" if url.startswith("git+") else "git+"
                lines.append(f"-e {prefix}{url}@{pkg.source_commit}{fragment}")
            else:
                lines.append(f"-e {pkg.source}")
        else:
            lines.append(f"{pkg.name}=={pkg.version}")
    return lines
