"""Interpreter, machine and platform context.

Only cheap calls: no `platform.platform()` (it reads the interpreter binary to find the libc),
and torch is described only when the user already imported it, because importing it costs
seconds and may initialise CUDA.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from pathlib import Path
from typing import Any

# podlab pods export these (charts/podlab, hub pod preconfiguration); KubeSpawner adds
# JUPYTER_IMAGE / JUPYTERHUB_USER; the Downward API conventionally gives POD_NAME/POD_NAMESPACE.
PODLAB_ENV = {
    "profile": ("PODLAB_PROFILE",),
    "image": ("PODLAB_IMAGE", "JUPYTER_IMAGE", "JUPYTER_IMAGE_SPEC"),
    "pod": ("PODLAB_POD_NAME", "POD_NAME"),
    "namespace": ("PODLAB_NAMESPACE", "POD_NAMESPACE"),
    "user": ("JUPYTERHUB_USER",),
}


def _memory_bytes() -> int | None:
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = None
    try:  # a container's cgroup v2 limit is what the run can actually use
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit() and (total is None or int(limit) < total):
            return int(limit)
    except OSError:
        pass
    return total


def _torch() -> dict[str, Any] | None:
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    info: dict[str, Any] = {"version": str(getattr(torch, "__version__", "unknown"))}
    try:
        info["cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        else:
            info["gpus"] = []
    except Exception as err:  # a broken CUDA setup must not break capture
        info["error"] = f"{type(err).__name__}: {err}"
    return info


def podlab_context() -> dict[str, str] | None:
    ctx: dict[str, str] = {}
    for key, names in PODLAB_ENV.items():
        for name in names:
            value = os.environ.get(name)
            if value:
                ctx[key] = value
                break
    return ctx or None


def capture_runtime() -> dict[str, Any]:
    uname = platform.uname()
    try:
        usable_cpus: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable_cpus = None
    data: dict[str, Any] = {
        "python": {
            "version": platform.python_version(),
            "implementation": sys.implementation.name,
            "executable": sys.executable,
            "prefix": sys.prefix,
        },
        "platform": {
            "system": uname.system,
            "release": uname.release,
            "machine": uname.machine,
            "sys_platform": sys.platform,
        },
        "hostname": socket.gethostname(),
        "cpus": os.cpu_count(),
        "usable_cpus": usable_cpus,
        "memory_bytes": _memory_bytes(),
    }
    torch = _torch()
    if torch is not None:
        data["torch"] = torch
    ctx = podlab_context()
    if ctx is not None:
        data["podlab"] = ctx
    return data
