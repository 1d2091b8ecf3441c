"""The patch that rebuilds a dirty tree on top of its commit: `git apply` takes it as is.

Tracked changes come from `git diff`; untracked files become new-file patches written here (git
has no command for that without touching the index). Binary and large files are not embedded:
a header lists them by size and sha256, so the run records that they differed.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

from envlogger.gitmodel import BinaryFile, display_path
from envlogger.gitrun import run_git

# Untracked files up to this size, without NUL bytes in their first 8000 bytes (git's own
# binary test), are embedded in git.diff; everything else is listed by name, size and sha256.
UNTRACKED_TEXT_MAX_BYTES = 1024 * 1024
UNTRACKED_TEXT_TOTAL_MAX_BYTES = 16 * 1024 * 1024
_BINARY_SNIFF_BYTES = 8000


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


_QUOTE_MAP = {0x07: b"\\a", 0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0B: b"\\v",
              0x0C: b"\\f", 0x0D: b"\\r", 0x22: b'\\"', 0x5C: b"\\\\"}  # fmt: skip


def quote_git_path(prefix: bytes, raw: bytes) -> bytes:
    """Quote `prefix + raw` the way git does in patch headers (C-style, octal for non-ASCII)."""
    full = prefix + raw
    if all(0x20 <= b < 0x7F and b not in (0x22, 0x5C) for b in full):
        return full
    out = bytearray(b'"')
    for b in full:
        if b in _QUOTE_MAP:
            out += _QUOTE_MAP[b]
        elif b < 0x20 or b >= 0x7F:
            out += b"\\%03o" % b
        else:
            out.append(b)
    out += b'"'
    return bytes(out)


def new_file_patch(raw_path: bytes, content: bytes, mode: str) -> bytes:
    """A git-apply-able patch that creates `raw_path` with `content`."""
    a, b = quote_git_path(b"a/", raw_path), quote_git_path(b"b/", raw_path)
    head = b"diff --git " + a + b" " + b + b"\nnew file mode " + mode.encode() + b"\n"
    if not content:
        return head
    lines = content.splitlines(keepends=True)
    body = bytearray(head)
    body += b"--- /dev/null\n+++ " + b + b"\n"
    body += b"@@ -0,0 +1%s @@\n" % (b"" if len(lines) == 1 else b",%d" % len(lines))
    for line in lines:
        body += b"+" + line
    if not content.endswith(b"\n"):
        body += b"\n\\ No newline at end of file\n"
    return bytes(body)


def untracked_patch(root: Path, untracked: list[bytes]) -> tuple[list[bytes], list[BinaryFile]]:
    patches: list[bytes] = []
    binaries: list[BinaryFile] = []
    budget = UNTRACKED_TEXT_TOTAL_MAX_BYTES
    for raw in untracked:
        path = root / os.fsdecode(raw)
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                patches.append(new_file_patch(raw, os.fsencode(os.readlink(path)), "120000"))
                continue
            mode = "100755" if st.st_mode & stat.S_IXUSR else "100644"
            if st.st_size <= UNTRACKED_TEXT_MAX_BYTES and st.st_size <= budget:
                with open(path, "rb") as fh:
                    content = fh.read()
                if b"\0" not in content[:_BINARY_SNIFF_BYTES]:
                    budget -= len(content)
                    patches.append(new_file_patch(raw, content, mode))
                    continue
            binaries.append(
                BinaryFile(display_path(raw), st.st_size, _sha256_file(path), "untracked")
            )
        except OSError:
            continue  # deleted between `git status` and now: nothing to record
    return patches, binaries


_BINARY_LINE = re.compile(rb"^Binary files .* differ$", re.MULTILINE)


DIFF_OPTIONS = ("--submodule=diff", "--no-ext-diff", "--no-textconv", "--no-color")


def tracked_patch(
    git: str, root: Path, env: dict[str, str], base: str
) -> tuple[bytes, list[BinaryFile]]:
    return split_binaries(run_git(git, root, ["diff", base, *DIFF_OPTIONS], env=env).stdout, root)


def split_binaries(out: bytes, root: Path) -> tuple[bytes, list[BinaryFile]]:
    """The patch without its binary sections, and those files listed by size and sha256."""
    if not _BINARY_LINE.search(out):
        return out, []
    kept: list[bytes] = []
    binaries: list[BinaryFile] = []
    sections = re.split(rb"(?m)^(?=diff --git )", out)
    for section in sections:
        if _BINARY_LINE.search(section) and b"\n@@ " not in section:
            header = section.split(b"\n", 1)[0]
            match = re.match(rb"diff --git (?:\"?a/)(.*?)\"? (?:\"?b/)", header)
            name = match.group(1) if match else header
            target = root / os.fsdecode(name)
            if target.is_file():
                binaries.append(
                    BinaryFile(
                        display_path(name), target.stat().st_size, _sha256_file(target), "modified"
                    )
                )
            else:
                binaries.append(BinaryFile(display_path(name), 0, "", "deleted"))
            continue
        kept.append(section)
    return b"".join(kept), binaries


def patch_header(binaries: list[BinaryFile]) -> bytes:
    if not binaries:
        return b""
    lines = [b"# envlogger: binary or large files, listed and not embedded (size, sha256, path):"]
    for bf in binaries:
        lines.append(f"#   {bf.status} {bf.size} {bf.sha256} {bf.path}".encode())
    return b"\n".join(lines) + b"\n"
