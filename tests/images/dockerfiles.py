"""What tests/images knows about the images: where each Dockerfile, input and lock lives, a
small Dockerfile reader, a lock reader and Docker's .dockerignore matching.

No container engine exists on these machines, so the images are checked as files: these
helpers read them the way `docker build` would (continuation lines joined, comment lines
dropped, one list of instructions per stage) without pretending to run anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from packaging.utils import canonicalize_name

from podlab.images import (
    IMAGE_DOCKERFILES,
    Instruction,
    env_pairs,
    stages,
)
from podlab.localstack.paths import REPO_ROOT

IMAGES_DIR = REPO_ROOT / "images"
HADOLINT_CONFIG = IMAGES_DIR / ".hadolint.yaml"
CHECKOV_CONFIG = IMAGES_DIR / ".checkov.yaml"
LOCK_SCRIPT = IMAGES_DIR / "lock.sh"
BUILD_SCRIPT = IMAGES_DIR / "build.sh"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
TORCH_CPU = IMAGES_DIR / "singleuser" / "torch-cpu.txt"
TORCH_CPU_OVERRIDES = IMAGES_DIR / "singleuser" / "torch-cpu-overrides.txt"
START_SCRIPT = IMAGES_DIR / "singleuser" / "start-singleuser.sh"
ENTRYPOINT_SCRIPT = IMAGES_DIR / "singleuser" / "podlab-entrypoint.sh"
HEALTHCHECK_SCRIPT = IMAGES_DIR / "singleuser" / "healthcheck.py"
STARTUP_SOURCE = REPO_ROOT / "hub" / "src" / "podlab" / "startup.py"

PYTHON_VERSION = (3, 12)
"""The CPython every image runs and every lock is resolved for."""


@dataclass(frozen=True)
class Lock:
    name: str
    requirements_in: Path
    path: Path


@dataclass(frozen=True)
class Image:
    name: str
    dockerfile: Path
    lock: Lock


BUILD_TOOLS = Lock("build-tools", IMAGES_DIR / "build-tools.in", IMAGES_DIR / "build-tools.lock")
IMAGES = tuple(
    Image(
        name,
        REPO_ROOT / dockerfile,
        Lock(
            name,
            (REPO_ROOT / dockerfile).parent / "requirements.in",
            (REPO_ROOT / dockerfile).parent / "requirements.lock",
        ),
    )
    for name, dockerfile in IMAGE_DOCKERFILES.items()
)
LOCKS = (BUILD_TOOLS, *(image.lock for image in IMAGES))


def image(name: str) -> Image:
    (found,) = [i for i in IMAGES if i.name == name]
    return found


def rel(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


# -- Dockerfiles (the reader lives in the package: the test bed's pod runner uses it too) ------
def last(stage: Iterable[Instruction], keyword: str) -> Instruction | None:
    matching = [i for i in stage if i.keyword == keyword]
    return matching[-1] if matching else None


def base_images(path: Path) -> list[str]:
    """The image of every FROM (not the stage names), e.g. python:3.12.12-slim-bookworm."""
    aliases: set[str] = set()
    images = []
    for stage in stages(path):
        words = stage[0].args.split()
        image_ref = next(w for w in words if not w.startswith("--"))
        if image_ref not in aliases:
            images.append(image_ref)
        if len(words) >= 3 and words[-2].upper() == "AS":
            aliases.add(words[-1])
    return images


def apt_packages(stage: Iterable[Instruction]) -> set[str]:
    """Packages named by `apt-get install` in a stage's RUN instructions."""
    packages: set[str] = set()
    for instruction in stage:
        if instruction.keyword != "RUN":
            continue
        for command in re.split(r"&&|;|\|\|", instruction.args):
            words = command.split()
            if words[:2] == ["apt-get", "install"]:
                packages.update(w.split("=")[0] for w in words[2:] if not w.startswith("-"))
    return packages


def env_of(stage: Iterable[Instruction]) -> dict[str, str]:
    """ENV key=value pairs of a stage (later ones win)."""
    env: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword == "ENV":
            env.update(env_pairs(instruction))
    return env


# -- lock files ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashes: frozenset[str]

    @property
    def key(self) -> str:
        return str(canonicalize_name(self.name))


PIN_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


@cache
def pins(path: Path) -> dict[str, Pin]:
    """Canonical name -> Pin of a hashed lock file."""
    found: dict[str, Pin] = {}
    current: tuple[str, str] | None = None
    hashes: set[str] = set()

    def flush() -> None:
        if current is not None:
            pin = Pin(current[0], current[1], frozenset(hashes))
            assert pin.key not in found, f"{path}: {pin.name} pinned twice"
            found[pin.key] = pin

    for line in path.read_text().splitlines():
        match = PIN_LINE.match(line)
        if match:
            flush()
            current, hashes = (match.group(1), match.group(2)), set()
        hashes.update(HASH.findall(line))
    flush()
    return found


def header(path: Path) -> list[str]:
    """The leading comment lines of a lock file."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def requirement_lines(path: Path) -> list[str]:
    """Requirement lines of a .in/.txt file (no comments, no options, no includes)."""
    out = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            out.append(line)
    return out


# -- .dockerignore -------------------------------------------------------------------------------
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore syntax (Go filepath.Match plus `**`) as a regex on a path."""
    out = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end + 1
            continue
        else:
            out += re.escape(char)
        i += 1
    return re.compile(out + "$")


@cache
def dockerignore_rules() -> tuple[tuple[bool, re.Pattern[str]], ...]:
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        pattern = pattern.strip().strip("/")
        rules.append((negate, _pattern_regex(pattern)))
    return tuple(rules)


def excluded_from_context(relative: str) -> bool:
    """Whether `docker build` leaves this repository path out of the build context.

    A path is out when it, or a folder above it, matches a pattern (the last matching rule,
    `!` re-including, wins), as in Docker's own matcher.
    """
    parts = relative.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        verdict = False
        for negate, regex in dockerignore_rules():
            if regex.match(prefix):
                verdict = not negate
        if verdict:
            return True
    return False
