"""What envlogger records about a repository: the git state, its submodules and binary files.

Plain data with a JSON form (`to_dict`/`from_dict`), kept apart from the code that reads git
(`gitstate`) and the code that builds the patch (`gitpatch`), so each can be read alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def display_path(raw: bytes) -> str:
    """A JSON-safe name: UTF-8 as is, other bytes as `\\xNN` escapes."""
    return raw.decode("utf-8", "backslashreplace")


def strip_credentials(url: str) -> str:
    """Remove `user:password@` from URL-style remotes (scp-style `git@host:` is kept)."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//[^/@]*@", "//", url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class Submodule:
    path: str
    commit: str | None
    recorded_commit: str | None
    dirty: bool
    initialized: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "commit": self.commit,
            "recorded_commit": self.recorded_commit,
            "dirty": self.dirty,
            "initialized": self.initialized,
        }


@dataclass(frozen=True)
class BinaryFile:
    """A changed or untracked file that git.diff lists instead of embedding."""

    path: str
    size: int
    sha256: str
    status: str  # "untracked" or "modified"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "status": self.status}


@dataclass(frozen=True)
class GitState:
    commit: str | None = None
    dirty: bool | None = None
    branch: str | None = None
    detached: bool = False
    remote: str | None = None
    remote_name: str | None = None
    root: str | None = None
    untracked: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    staged: tuple[str, ...] = ()
    unpushed_commits: int | None = None
    submodules: tuple[Submodule, ...] = ()
    binary_files: tuple[BinaryFile, ...] = ()
    diff_bytes: bytes = b""
    unavailable_reason: str | None = None
    unavailable_detail: str | None = None
    errors: tuple[str, ...] = field(default=())

    @property
    def available(self) -> bool:
        return self.unavailable_reason is None

    @property
    def diff(self) -> str:
        return self.diff_bytes.decode("utf-8", "replace")

    def to_dict(self, include_diff: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "commit": self.commit,
            "dirty": self.dirty,
            "branch": self.branch,
            "detached": self.detached,
            "remote": self.remote,
            "remote_name": self.remote_name,
            "root": self.root,
            "untracked": list(self.untracked),
            "changed": list(self.changed),
            "staged": list(self.staged),
            "unpushed_commits": self.unpushed_commits,
            "submodules": [s.to_dict() for s in self.submodules],
            "binary_files": [b.to_dict() for b in self.binary_files],
            "unavailable_reason": self.unavailable_reason,
            "unavailable_detail": self.unavailable_detail,
        }
        if include_diff:
            data["diff"] = self.diff
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GitState:
        return cls(
            commit=data.get("commit"),
            dirty=data.get("dirty"),
            branch=data.get("branch"),
            detached=bool(data.get("detached", False)),
            remote=data.get("remote"),
            remote_name=data.get("remote_name"),
            root=data.get("root"),
            untracked=tuple(data.get("untracked", ())),
            changed=tuple(data.get("changed", ())),
            staged=tuple(data.get("staged", ())),
            unpushed_commits=data.get("unpushed_commits"),
            submodules=tuple(
                Submodule(
                    path=s["path"],
                    commit=s.get("commit"),
                    recorded_commit=s.get("recorded_commit"),
                    dirty=bool(s.get("dirty")),
                    initialized=bool(s.get("initialized", True)),
                )
                for s in data.get("submodules", ())
            ),
            binary_files=tuple(
                BinaryFile(b["path"], int(b["size"]), b["sha256"], b.get("status", "untracked"))
                for b in data.get("binary_files", ())
            ),
            diff_bytes=str(data.get("diff", "")).encode("utf-8"),
            unavailable_reason=data.get("unavailable_reason"),
            unavailable_detail=data.get("unavailable_detail"),
        )


def unavailable(reason: str, detail: str) -> GitState:
    return GitState(unavailable_reason=reason, unavailable_detail=detail)
