"""Become one container of a pod, run as
`unshare --mount --uts -- python -m podlab.localstack.kube.launch SPEC`.

Run by the pod runner in fresh, private mount and UTS namespaces: bind-mounts each volume at
its mount path (parents first, read-only where asked), sets the pod's host name, changes to
the working directory, drops to the container's user and groups, then execs the container's
command. Nothing of this is visible outside, so two pods can mount different homes at
/home/jovyan.

SPEC (JSON): overlays [{layer, target, scratch}] (placeholders for missing mount points, see
podrun.py), mounts [{source, target, read_only}], hostname, uid, gid, groups, workdir, argv,
env.
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import sys
from pathlib import Path

MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: str, flags: int) -> None:
    if _libc.mount(source.encode(), target.encode(), None, flags, None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def bind(source: str, target: str, read_only: bool, is_dir: bool) -> None:
    if is_dir:
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            Path(target).touch()
    _mount(source, target, MS_BIND | MS_REC)
    if read_only:
        _mount(source, target, MS_BIND | MS_REMOUNT | MS_RDONLY)


def overlay(layer: str, target: str, scratch: str) -> None:
    """`layer` (placeholders for mount points the machine lacks) over `target`; writes go to
    `scratch`, private to the container, as to a container's own filesystem."""
    os.makedirs(f"{scratch}/upper", exist_ok=True)
    os.makedirs(f"{scratch}/work", exist_ok=True)
    options = f"lowerdir={layer}:{target},upperdir={scratch}/upper,workdir={scratch}/work"
    if _libc.mount(b"overlay", target.encode(), b"overlay", 0, options.encode()) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"overlay {layer} on {target}: {os.strerror(errno)}")


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    for layer in sorted(spec.get("overlays") or [], key=lambda o: o["target"].count("/")):
        overlay(layer["layer"], layer["target"], layer["scratch"])
    mounts = sorted(spec["mounts"], key=lambda m: m["target"].count("/"))
    # Every source is opened before anything is mounted: a volume mounted at /tmp must not
    # hide the sources of the mounts after it (the runner's state may live under /tmp).
    handles = [os.open(m["source"], os.O_PATH | os.O_CLOEXEC) for m in mounts]
    for mount, handle in zip(mounts, handles, strict=True):
        is_dir = os.path.isdir(f"/proc/self/fd/{handle}")
        bind(f"/proc/self/fd/{handle}", mount["target"], mount["read_only"], is_dir)
        os.close(handle)
    if spec.get("hostname"):  # a UTS namespace of its own: the pod's name, as in a pod
        socket.sethostname(spec["hostname"])
    groups = [int(g) for g in spec.get("groups") or []]
    if spec.get("gid") is not None:
        os.setgroups([int(spec["gid"]), *groups])
        os.setgid(int(spec["gid"]))
    if spec.get("uid") is not None:
        os.setuid(int(spec["uid"]))
    os.chdir(spec.get("workdir") or "/")
    argv = spec["argv"]
    try:
        os.execvpe(argv[0], argv, spec["env"])  # noqa: S606 (the container's own command)
    except OSError as err:
        print(f"pod runner: cannot run {argv[0]!r}: {err.strerror}", file=sys.stderr)
        sys.exit(127 if isinstance(err, FileNotFoundError) else 126)


if __name__ == "__main__":
    main(sys.argv[1])
