"""podlab's container images as files: which Dockerfile builds which image, and what the
final stage of a Dockerfile says a container gets (its entrypoint, command, environment,
user, working directory and the repository files copied into it).

No container engine runs on the development machines, so the Dockerfiles are read the way
`docker build` reads them (continuation lines joined, comment lines dropped, one list of
instructions per stage). tests/images checks the Dockerfiles with this reader; the test
bed's pod runner (localstack/kube) runs a pod of a podlab image the way the image would, from
the project's own environment: `/opt/venv` is the project's virtual environment and the
files the final stage copies from the repository are the repository's files.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

IMAGE_DOCKERFILES = {
    "hub": "images/hub/Dockerfile",
    "singleuser": "images/singleuser/Dockerfile",
    "singleuser-gpu": "images/singleuser-gpu/Dockerfile",
    "mlflow": "mlflow-server/Dockerfile",
}
"""Image name (the last part of the repository, e.g. podlab/hub) -> its Dockerfile, relative
to the repository root (images/build.sh builds the same four; a test keeps them equal)."""
VENV = "/opt/venv"
"""Where the images keep their Python environment (`COPY --from=build /opt/venv /opt/venv`)."""


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON (exec) form of CMD/ENTRYPOINT/SHELL/HEALTHCHECK CMD arguments, if used."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = re.sub(r"^(?:--\S+\s+)*CMD\s+", "", text)
        if not text.startswith("["):
            return None
        value = json.loads(text)
        assert isinstance(value, list)
        return [str(v) for v in value]

    def flags_and_words(self) -> tuple[dict[str, str], list[str]]:
        """`COPY --from=build --chown=1:2 a b` -> ({"from": "build", "chown": "1:2"}, [a, b])."""
        flags: dict[str, str] = {}
        words: list[str] = []
        for word in shlex.split(self.args):
            if not words and word.startswith("--"):
                key, _, value = word[2:].partition("=")
                flags[key] = value
            else:
                words.append(word)
        return flags, words

    def command(self) -> list[str]:
        """CMD/ENTRYPOINT as argv: the exec form, or the shell form under /bin/sh -c."""
        return self.exec_form() or ["/bin/sh", "-c", self.args]


@cache
def instructions(path: Path) -> tuple[Instruction, ...]:
    """The instructions of a Dockerfile: continuations joined, comment lines dropped."""
    result: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue  # comments (also inside continuations, as docker does) and blank lines
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        text = " ".join(p for p in pending if p)
        pending = []
        keyword, _, args = text.partition(" ")
        result.append(Instruction(keyword.upper(), args.strip(), start))
    if pending:
        raise ValueError(f"{path}: the last instruction ends with a line continuation")
    return tuple(result)


def stages(path: Path) -> list[list[Instruction]]:
    """One list per build stage, each starting with its FROM."""
    found: list[list[Instruction]] = []
    for instruction in instructions(path):
        if instruction.keyword == "FROM":
            found.append([instruction])
        elif found:
            found[-1].append(instruction)
    if not found:
        raise ValueError(f"{path}: no FROM")
    return found


def final_stage(path: Path) -> list[Instruction]:
    return stages(path)[-1]


def env_pairs(instruction: Instruction) -> list[tuple[str, str]]:
    """The key=value pairs of one ENV instruction, in order."""
    pairs = []
    for word in shlex.split(instruction.args):
        key, sep, value = word.partition("=")
        if not sep:
            raise ValueError(f"line {instruction.line}: ENV {instruction.args!r}: use key=value")
        pairs.append((key, value))
    return pairs


def _expand(value: str, env: dict[str, str]) -> str:
    """Docker's `$VAR` / `${VAR}` in ENV values, against what the image defined so far."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), value)


@dataclass(frozen=True)
class ImageModel:
    """What a container of an image starts with, as the final stage of its Dockerfile says."""

    name: str
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    user: tuple[int, int | None] | None = None
    workdir: str | None = None
    files: list[tuple[Path, str]] = field(default_factory=list)
    """(repository file or folder, path in the container) of each `COPY` from the context."""
    venv_paths: list[str] = field(default_factory=list)
    """Paths the image copies its virtual environment to (`COPY --from=... /opt/venv`)."""

    def argv(self, command: list[str] | None, args: list[str] | None) -> list[str]:
        """Kubernetes' rule: `command` replaces ENTRYPOINT (and drops CMD), `args` replace CMD."""
        if command:
            return [*command, *(args or [])]
        return [*self.entrypoint, *(args if args else self.cmd)]


def image_name(reference: str) -> str | None:
    """`registry/podlab/hub:0.2.0` or `podlab/singleuser@sha256:...` -> `hub`/`singleuser`,
    None for an image that is not one of podlab's."""
    last = reference.split("@", 1)[0].rsplit("/", 1)[-1]  # a registry port is before a '/'
    name = last.partition(":")[0]
    return name if name in IMAGE_DOCKERFILES else None


def image_tag(reference: str) -> str:
    """`registry:5000/podlab/hub:0.2.0@sha256:...` -> `0.2.0` ("" without a tag)."""
    return reference.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2]


def image_model(reference: str, repo_root: Path, base_path: str) -> ImageModel | None:
    """The model of a podlab image (None for any other image). `base_path` stands for the
    base image's PATH, which the Dockerfile extends."""
    name = image_name(reference)
    if name is None:
        return None
    dockerfile = repo_root / IMAGE_DOCKERFILES[name]
    env: dict[str, str] = {"PATH": base_path}
    entrypoint: list[str] = []
    cmd: list[str] = []
    user: tuple[int, int | None] | None = None
    workdir: str | None = None
    files: list[tuple[Path, str]] = []
    venv_paths: list[str] = []
    for instruction in final_stage(dockerfile)[1:]:
        keyword = instruction.keyword
        if keyword == "ENV":
            for key, value in env_pairs(instruction):
                env[key] = _expand(value, env)
        elif keyword == "ENTRYPOINT":
            entrypoint, cmd = instruction.command(), []  # a new ENTRYPOINT resets CMD
        elif keyword == "CMD":
            cmd = instruction.command()
        elif keyword == "WORKDIR":
            workdir = instruction.args
        elif keyword == "USER":
            uid, _, gid = instruction.args.partition(":")
            if uid.isdigit():
                user = (int(uid), int(gid) if gid.isdigit() else None)
        elif keyword in ("COPY", "ADD"):
            flags, words = instruction.flags_and_words()
            *sources, dest = words
            if "from" in flags:
                if dest.rstrip("/") == VENV:
                    venv_paths.append(VENV)
                continue
            for source in sources:
                target = dest if not dest.endswith("/") else dest + Path(source).name
                files.append((repo_root / source, target))
    return ImageModel(name, entrypoint, cmd, env, user, workdir, files, venv_paths)
