"""PyPI's JSON simple API (PEP 691), as pip's finder reads it, for checking lock pins.

pip finds a pin's files on the project page, keeps those whose tags the target accepts and
whose sha256 the lock allows, then downloads one. That download is where a dry run gets its
metadata when the index advertises no PEP 658 metadata file, which is the case for the index
reachable here: measured, `pip install --dry-run --no-deps` fetched every wheel in full
(259 MB for the MLflow lock; the GPU lock's files add up to 3.5 GB, torch alone 527 MB,
pyspark's sdist 456 MB). So the tests check every pin here, file by file, and run pip itself
on the pins whose file is small.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from packaging import tags
from packaging.utils import canonicalize_name, parse_wheel_filename

from tests.images.dockerfiles import PYTHON_VERSION, Pin

INDEX = "https://pypi.org/simple"
PLATFORMS = [
    *(f"manylinux_2_{minor}_x86_64" for minor in range(28, 4, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
]
"""The images' platform: glibc 2.28 or later on x86_64 (uv's x86_64-manylinux_2_28)."""
INTERPRETER = f"cp{PYTHON_VERSION[0]}{PYTHON_VERSION[1]}"
SUPPORTED = [
    *tags.cpython_tags(PYTHON_VERSION, [INTERPRETER], PLATFORMS),
    *tags.compatible_tags(PYTHON_VERSION, INTERPRETER, PLATFORMS),
]
RANK = {tag: index for index, tag in enumerate(SUPPORTED)}
SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2")


@dataclass(frozen=True)
class File:
    filename: str
    url: str
    sha256: str
    size: int
    yanked: bool

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    def rank(self) -> int | None:
        """pip's preference for this file on the target (lower first); None: not installable."""
        if self.is_wheel:
            _, _, _, file_tags = parse_wheel_filename(self.filename)
            ranks = [RANK[t] for t in file_tags if t in RANK]
            return min(ranks) if ranks else None
        return len(SUPPORTED) if self.filename.endswith(SDIST_SUFFIXES) else None


FETCH_ATTEMPTS = 4
"""Tries per page: a name lookup or connection can fail for a moment (seen in CI runs)."""


def _fetch(name: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{INDEX}/{canonicalize_name(name)}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    for attempt in range(1, FETCH_ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                data = json.loads(response.read())
            break
        except urllib.error.HTTPError as err:
            if (err.code < 500 and err.code != 429) or attempt == FETCH_ATTEMPTS:
                raise
        except OSError:
            if attempt == FETCH_ATTEMPTS:
                raise
        time.sleep(2 ** (attempt - 1))  # 1, 2, 4 s
    assert isinstance(data, dict)
    return data


def _version_of(filename: str, name: str) -> str | None:
    if filename.endswith(".whl"):
        return str(parse_wheel_filename(filename)[1])
    for suffix in SDIST_SUFFIXES:
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            prefix = f"{canonicalize_name(name)}-".replace("-", "_")
            normalized = stem.replace("-", "_").lower()
            if normalized.startswith(prefix):
                return stem[len(prefix) :]
            return stem.rpartition("-")[2]
    return None


def project_files(names: Iterable[str]) -> dict[str, list[File]]:
    """Canonical name -> every file on its PyPI page (one request per project, in parallel)."""
    unique = sorted({str(canonicalize_name(n)) for n in names})
    workers = int(os.environ.get("PODLAB_PYPI_WORKERS", "16"))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pages = dict(zip(unique, pool.map(_fetch, unique), strict=True))
    out: dict[str, list[File]] = {}
    for name, page in pages.items():
        out[name] = [
            File(
                f["filename"],
                f["url"],
                f.get("hashes", {}).get("sha256", ""),
                int(f.get("size") or 0),
                bool(f.get("yanked")),
            )
            for f in page["files"]
        ]
    return out


def problems(pin: Pin, files: list[File]) -> tuple[list[str], File | None]:
    """What is wrong with a pin on the index, and the file pip would install for the target."""
    by_hash = {f.sha256: f for f in files}
    found: list[str] = []
    for digest in sorted(pin.hashes):
        file = by_hash.get(digest)
        if file is None:
            found.append(f"{pin.name}=={pin.version}: no file on PyPI has sha256 {digest[:12]}…")
            continue
        version = _version_of(file.filename, pin.name)
        if version is not None and canonicalize_name(version) != canonicalize_name(pin.version):
            found.append(f"{pin.name}=={pin.version}: hash {digest[:12]}… is {file.filename}")
    candidates = [
        f for f in (by_hash.get(d) for d in pin.hashes) if f is not None and f.rank() is not None
    ]
    # A yanked file is not a problem: pip installs an exact, hashed pin of a yanked release
    # (PEP 592), so a yank upstream does not change what the images get, nor this result.
    if not candidates:
        found.append(
            f"{pin.name}=={pin.version}: no hashed file installs on CPython "
            f"{PYTHON_VERSION[0]}.{PYTHON_VERSION[1]} linux x86_64"
        )
    chosen = min(candidates, key=lambda f: (f.rank() or 0, f.filename)) if candidates else None
    return found, chosen
