"""The git state of the repository a run was launched from, read fresh on every call.

MLflow caches the commit per process and never looks at the working tree, so a run made after
`git commit` in a long-lived notebook carries a stale sha, and a run made from an edited tree
claims a commit that never produced it. Here one `git status --porcelain=v2` answers commit,
branch, ahead count, changed, staged and untracked paths and submodule states in a single
process; the diff is only computed when the tree is dirty (`gitpatch` builds it). The
recorded shape is in `gitmodel`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from envlogger.gitmodel import (
    BinaryFile,
    GitState,
    Submodule,
    display_path,
    strip_credentials,
    unavailable,
)
from envlogger.gitpatch import (
    DIFF_OPTIONS,
    patch_header,
    split_binaries,
    tracked_patch,
    untracked_patch,
)
from envlogger.gitrun import GitUnavailable, PendingGit, find_git, git_env, run_git

__all__ = ["GitProbe", "GitState", "capture_git", "find_root", "strip_credentials", "unavailable"]

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@dataclass
class _Status:
    commit: str | None = None
    branch: str | None = None
    detached: bool = False
    upstream: str | None = None
    ahead: int | None = None
    changed: list[bytes] = field(default_factory=list)
    staged: list[bytes] = field(default_factory=list)
    untracked: list[bytes] = field(default_factory=list)
    dirty_submodules: set[bytes] = field(default_factory=set)


def _parse_status(out: bytes) -> _Status:
    st = _Status()
    records = out.split(b"\0")
    i = 0
    while i < len(records):
        rec = records[i]
        i += 1
        if not rec:
            continue
        kind = rec[:1]
        if kind == b"#":
            text = rec.decode("utf-8", "surrogateescape")
            if text.startswith("# branch.oid "):
                oid = text[len("# branch.oid ") :]
                st.commit = None if oid == "(initial)" else oid
            elif text.startswith("# branch.head "):
                head = text[len("# branch.head ") :]
                if head == "(detached)":
                    st.detached = True
                else:
                    st.branch = head
            elif text.startswith("# branch.upstream "):
                st.upstream = text[len("# branch.upstream ") :]
            elif text.startswith("# branch.ab "):
                ahead = text.split()[2]
                st.ahead = int(ahead.lstrip("+"))
        elif kind in (b"1", b"2", b"u"):
            nfields = {b"1": 9, b"2": 10, b"u": 11}[kind]
            parts = rec.split(b" ", nfields - 1)
            xy, sub, path = parts[1], parts[2], parts[-1]
            if kind == b"2":
                i += 1  # the original path of a rename follows as its own record
            if xy[:1] != b".":
                st.staged.append(path)
            if xy[1:2] != b"." or kind == b"u":
                st.changed.append(path)
            if sub.startswith(b"S") and sub != b"S...":
                st.dirty_submodules.add(path)
        elif kind == b"?":
            st.untracked.append(rec[2:])
    return st


# relativePaths=false: paths relative to the root whatever the starting folder is.
STATUS_ARGS = ["-c", "status.relativePaths=false", "status", "--porcelain=v2", "--branch"]
STATUS_ARGS += ["--no-renames", "-z"]
REMOTES_ARGS = ["config", "-z", "--get-regexp", r"^remote\..*\.url$"]


def _parse_remotes(out: bytes) -> dict[str, str]:
    remotes: dict[str, str] = {}
    for rec in out.split(b"\0"):
        if not rec:
            continue
        key, _, value = rec.decode("utf-8", "replace").partition("\n")
        name = key[len("remote.") : -len(".url")]
        remotes.setdefault(name, value)
    return remotes


_SECTION = re.compile(r'^\s*\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]\s*(.*)$')
_URL_KEY = re.compile(r"^\s*url\s*=\s*(.*?)\s*$", re.IGNORECASE)


def find_root(start: Path) -> Path | None:
    """The nearest folder holding `.git` (a folder, or a file for worktrees/submodules)."""
    for folder in (start, *start.parents):
        if os.path.lexists(os.path.join(folder, ".git")):
            return folder
    return None


def read_remotes(root: Path) -> dict[str, str] | None:
    """Remote URLs read from the repository's config file, or None to ask git instead.

    Saves a `git config` process per capture; anything unusual (includes, unreadable files,
    odd gitdir links) falls back to git itself.
    """
    try:
        dotgit = root / ".git"
        if dotgit.is_dir():
            gitdir = dotgit
        else:
            text = dotgit.read_text(encoding="utf-8")
            if not text.startswith("gitdir:"):
                return None
            gitdir = Path(text[len("gitdir:") :].strip())
            gitdir = gitdir if gitdir.is_absolute() else root / gitdir
        common = gitdir / "commondir"
        if common.exists():
            gitdir = gitdir / common.read_text(encoding="utf-8").strip()
        lines = (gitdir / "config").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    remotes: dict[str, str] = {}
    section: tuple[str, str | None] | None = None
    for line in lines:
        match = _SECTION.match(line)
        if match:
            section = (match.group(1).lower(), match.group(2))
            if section[0] in ("include", "includeif"):
                return None
            line = match.group(3)
            if not line:
                continue
        if section is None or section[0] != "remote" or section[1] is None:
            continue
        url = _URL_KEY.match(line.split(" #", 1)[0].split(" ;", 1)[0])
        if url:
            value = url.group(1)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            remotes.setdefault(section[1], value)
    return remotes


def _pick_remote(remotes: dict[str, str], upstream: str | None) -> str | None:
    if upstream:
        # The longest remote name that prefixes "<remote>/<branch>" (remote names may hold "/").
        for name in sorted(remotes, key=len, reverse=True):
            if upstream.startswith(name + "/"):
                return name
    if "origin" in remotes:
        return "origin"
    return next(iter(sorted(remotes)), None)


def _submodules(
    git: str, root: Path, env: dict[str, str], dirty_paths: set[bytes]
) -> tuple[Submodule, ...]:
    if not (root / ".gitmodules").exists():
        return ()
    out = run_git(git, root, ["ls-files", "--stage", "-z"], env=env).stdout
    subs: list[Submodule] = []
    for rec in out.split(b"\0"):
        if not rec.startswith(b"160000 "):
            continue
        meta, _, raw_path = rec.partition(b"\t")
        recorded = meta.split(b" ")[1].decode()
        sub_dir = root / os.fsdecode(raw_path)
        commit: str | None = None
        initialized = (sub_dir / ".git").exists()
        if initialized:
            head = run_git(git, sub_dir, ["rev-parse", "HEAD"], env=env, check=False)
            commit = head.stdout.decode().strip() or None if head.returncode == 0 else None
        subs.append(
            Submodule(
                path=display_path(raw_path),
                commit=commit,
                recorded_commit=recorded,
                dirty=raw_path in dirty_paths or (commit is not None and commit != recorded),
                initialized=initialized,
            )
        )
    return tuple(subs)


_LAST_DIRTY: dict[Path, str] = {}
"""Per repository root whose tree was dirty at the last capture in this process: its commit."""


class GitProbe:
    """The first git queries for one directory, started at once and running concurrently.

    `finish()` collects them (plus the follow-up queries a dirty tree needs) into a GitState.
    """

    def __init__(self, start_dir: Path, *, with_diff: bool = True, light: bool = False) -> None:
        self.start_dir = start_dir
        self.with_diff = with_diff
        self.light = light
        self.git = find_git()
        self.env = git_env()
        self.pending: dict[str, PendingGit] = {}
        self.root: Path | None = None
        self.remotes: dict[str, str] | None = None
        self.early_base: str | None = None
        if self.git is None:
            return
        untracked = "--untracked-files=normal" if light else "--untracked-files=all"
        # One git process in the common case: the root is found by looking for `.git` and the
        # remotes are read from the config file; git is asked only when that is not enough.
        self.root = find_root(start_dir)
        self.remotes = read_remotes(self.root) if self.root is not None else None
        self.pending = {
            "status": PendingGit(self.git, start_dir, [*STATUS_ARGS, untracked], self.env),
        }
        if self.root is None:
            self.pending["top"] = PendingGit(
                self.git, start_dir, ["rev-parse", "--show-toplevel"], self.env
            )
        if self.remotes is None:
            self.pending["remotes"] = PendingGit(self.git, start_dir, REMOTES_ARGS, self.env)
        if self.root is not None and with_diff and not light:
            # The tree was dirty last time (a notebook being edited): start the diff against
            # that commit next to the status, on the other core; it is used only if the status
            # reports the same commit. A clean tree never pays.
            self.early_base = _LAST_DIRTY.get(self.root)
            if self.early_base is not None:
                self.pending["diff"] = PendingGit(
                    self.git, self.root, ["diff", self.early_base, *DIFF_OPTIONS], self.env
                )

    def finish(self) -> GitState:
        """Never raises for git problems: they become `unavailable_reason`."""
        if self.git is None:
            return unavailable("no-git-executable", "no `git` executable on PATH")
        try:
            return self._finish(self.git)
        except GitUnavailable as err:
            return unavailable(err.reason, err.detail)
        finally:
            # Reap every process, used or not (an unused early diff may have finished).
            for pending in self.pending.values():
                if pending.proc is not None and pending.proc.returncode is None:
                    if pending.proc.poll() is None:
                        pending.proc.kill()
                    pending.proc.communicate()

    def _finish(self, git: str) -> GitState:
        env = self.env
        st = _parse_status(self.pending["status"].result().stdout)
        if self.root is not None:
            root = self.root
        else:
            top = self.pending["top"].result()
            root = Path(os.fsdecode(top.stdout.rstrip(b"\n")))
        dirty = bool(st.changed or st.staged or st.untracked)
        if self.remotes is not None:
            remotes = self.remotes
        else:
            remotes = _parse_remotes(self.pending["remotes"].result(check=False).stdout)
        remote_name = _pick_remote(remotes, st.upstream)
        remote = strip_credentials(remotes[remote_name]) if remote_name else None
        if self.light:
            return GitState(
                commit=st.commit, dirty=dirty, branch=st.branch, root=str(root), remote=remote,
                remote_name=remote_name, detached=st.detached,
            )  # fmt: skip
        errors: list[str] = []
        unpushed = st.ahead
        if unpushed is None and remotes and st.commit:
            res = run_git(
                git, root, ["rev-list", "--count", "HEAD", "--not", "--remotes"], env=env,
                check=False,
            )  # fmt: skip
            if res.returncode == 0:
                unpushed = int(res.stdout.strip() or 0)
        try:
            submodules = _submodules(git, root, env, st.dirty_submodules)
        except GitUnavailable as err:
            submodules = ()
            errors.append(f"submodules: {err.detail}")
        diff_bytes = b""
        binaries: list[BinaryFile] = []
        if dirty and st.commit:
            _LAST_DIRTY[root] = st.commit
        else:
            _LAST_DIRTY.pop(root, None)
        if dirty and self.with_diff:
            tracked, tracked_bin = self._tracked(git, root, st.commit)
            untracked_patches, untracked_bin = untracked_patch(root, st.untracked)
            binaries = tracked_bin + untracked_bin
            diff_bytes = patch_header(binaries) + tracked + b"".join(untracked_patches)
        return GitState(
            commit=st.commit,
            dirty=dirty,
            branch=st.branch,
            detached=st.detached,
            remote=remote,
            remote_name=remote_name,
            root=str(root),
            untracked=tuple(display_path(p) for p in st.untracked),
            changed=tuple(display_path(p) for p in st.changed),
            staged=tuple(display_path(p) for p in st.staged),
            unpushed_commits=unpushed,
            submodules=submodules,
            binary_files=tuple(binaries),
            diff_bytes=diff_bytes,
            errors=tuple(errors),
        )

    def _tracked(self, git: str, root: Path, commit: str | None) -> tuple[bytes, list[BinaryFile]]:
        """The tracked changes: the early diff when it ran against the commit the status
        reports (not if HEAD moved in between), else a fresh one (a repository without
        commits diffs against the empty tree)."""
        speculative = self.pending.get("diff")
        if speculative is not None and commit is not None and commit == self.early_base:
            result = speculative.result(check=False)
            if result.returncode == 0:
                return split_binaries(result.stdout, root)
        return tracked_patch(git, root, self.env, commit or EMPTY_TREE)


def capture_git(start_dir: Path, *, with_diff: bool = True, light: bool = False) -> GitState:
    """Describe the repository containing `start_dir`; never raises for git problems.

    `light` (used for editable packages' source repos) skips unpushed commits, submodules,
    the diff and the per-file untracked listing.
    """
    return GitProbe(start_dir, with_diff=with_diff, light=light).finish()
