"""What counts as "someone is using this server", beyond the HTTP traffic the hub already sees.

JupyterHub's idle culler only sees `last_activity`, which moves with requests through the proxy
and with the server's own report of kernel messages. That misses the work ML engineers leave
running, so the activity reporter asks these probes and reports "active now" while any says so:

- a kernel whose `execution_state` is `busy`: a cell that computes silently for hours emits
  one `busy` status message and nothing else until it ends;
- a Jupyter terminal with a browser attached (a websocket client on the terminal);
- an exec session: a process that entered the server from outside (`kubectl exec`, VS Code's
  "attach to container", `podlab` CLI), i.e. not a descendant or an ancestor of the server
  process, carrying this server's environment (`PODLAB_USER` of this user: `kubectl exec`
  processes get the container's environment), and either holding a terminal (an interactive
  shell) or being VS Code's remote server (`.vscode-server` / `vscode-server` in its command
  line, which runs without a TTY). In a pod the process table is the container's own; locally
  the `PODLAB_USER` filter keeps other users' processes out;
- a GPU at or above `gpu_busy_threshold` percent utilisation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podlab.activity.gpu import GpuSource, NoGpus

VSCODE_MARKERS = (".vscode-server", "vscode-server", ".vscode-remote")


@dataclass(frozen=True)
class ExecSession:
    pid: int
    kind: str  # "tty" or "vscode"
    command: str


def busy_kernels(kernels: Iterable[Mapping[str, Any]]) -> list[str]:
    """Ids of kernels (jupyter_server kernel models) that are executing right now."""
    return [str(k.get("id")) for k in kernels if k.get("execution_state") == "busy"]


def attached_terminals(terminals: Mapping[str, Any]) -> list[str]:
    """Names of terminado terminals that have at least one websocket client."""
    return [name for name, term in terminals.items() if getattr(term, "clients", None)]


def _stat(proc: Path, pid: int) -> tuple[int, int] | None:
    """(ppid, tty_nr) of a process; the command name may hold spaces and parentheses."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return int(fields[1]), int(fields[4])
    except (IndexError, ValueError):
        return None


def exec_sessions(server_pid: int, user: str, proc: Path = Path("/proc")) -> list[ExecSession]:
    """Processes attached to this server from outside it (see the module docstring)."""
    table: dict[int, tuple[int, int]] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            stat = _stat(proc, int(entry.name))
            if stat is not None:
                table[int(entry.name)] = stat
    related = {server_pid}
    pid = server_pid  # ancestors: the container's init, the local hub
    while pid in table and table[pid][0] > 0 and table[pid][0] not in related:
        pid = table[pid][0]
        related.add(pid)
    children: dict[int, list[int]] = {}
    for child, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(child)
    stack = [server_pid]  # descendants: kernels, Jupyter terminals (probed separately)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in related:
                related.add(child)
                stack.append(child)
    marker = f"PODLAB_USER={user}".encode()
    sessions = []
    for pid, (_, tty) in sorted(table.items()):
        if pid in related:
            continue
        try:
            environ = (proc / str(pid) / "environ").read_bytes().split(b"\0")
            argv = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone, or another user's process
            continue
        if marker not in environ:
            continue
        command = " ".join(a.decode(errors="replace") for a in argv if a)
        if any(m in command for m in VSCODE_MARKERS):
            sessions.append(ExecSession(pid, "vscode", command))
        elif tty != 0:
            sessions.append(ExecSession(pid, "tty", command))
    return sessions


@dataclass
class ActivityProbe:
    """Combines the probes; `reasons()` is empty when the server is idle."""

    kernels: Callable[[], Iterable[Mapping[str, Any]]] = list
    terminals: Callable[[], Mapping[str, Any]] = dict
    sessions: Callable[[], list[ExecSession]] = list
    gpu: GpuSource = field(default_factory=NoGpus)
    gpu_busy_threshold: int = 10

    def reasons(self) -> list[str]:
        found = [f"kernel {k} executing" for k in busy_kernels(self.kernels())]
        found += [f"terminal {t} attached" for t in attached_terminals(self.terminals())]
        found += [f"{s.kind} session pid {s.pid}" for s in self.sessions()]
        try:
            gpus = self.gpu.utilizations()
        except Exception:  # a flaky driver must not stop the other probes
            gpus = []
        found += [f"gpu {i} at {u}%" for i, u in enumerate(gpus) if u >= self.gpu_busy_threshold]
        return found
