"""Start a real component as a child process and know, fast and clearly, when it is not ready.

Every fixture in tests/support builds on `ManagedProcess`: it checks the binary and the port
before starting, waits for a readiness probe while watching that the process is still alive
(a server with bad config exits at once, and polling a dead port for a minute hides that), and
on failure raises `ComponentError` naming the component, what to do, and the tail of its log.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

LOG_TAIL_LINES = 40


class ComponentError(RuntimeError):
    """A test component could not be started or reached; the message says what to do."""

    def __init__(self, component: str, problem: str, hint: str = "", log: Path | None = None):
        self.component = component
        parts = [f"{component}: {problem}"]
        if hint:
            parts.append(f"What to do: {hint}")
        if log is not None:
            parts.append(f"--- last {LOG_TAIL_LINES} lines of {log} ---\n{log_tail(log)}")
        super().__init__("\n".join(parts))


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file, or a note that there is none."""
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log written)"
    return "\n".join(content[-lines:]) or "(log is empty)"


def free_port(host: str = "127.0.0.1") -> int:
    """A port that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def require_port_free(component: str, port: int, host: str = "127.0.0.1") -> None:
    if port_in_use(port, host):
        raise ComponentError(
            component,
            f"port {port} on {host} is already in use",
            f"stop the process that holds it (`ss -ltnp | grep :{port}`) or let the fixture "
            "pick a free port",
        )


def require_executable(component: str, name: str, hint: str) -> str:
    """The absolute path of `name` (on PATH or absolute), or a ComponentError with the hint."""
    found = shutil.which(name)
    if found is None:
        raise ComponentError(component, f"executable {name!r} not found", hint)
    return found


def http_ok(url: str, timeout: float = 2.0, headers: Mapping[str, str] | None = None) -> bool:
    """True when `url` answers with a status below 500 (the server is up and routing)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"health URL must be http(s): {url!r}")
    request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310 (checked)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status) < 500
    except urllib.error.HTTPError as err:
        return err.code < 500
    except (OSError, ValueError):
        return False


def tcp_ok(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


class ManagedProcess:
    """One component process: started in its own process group, probed, always stopped.

    `ready` is called repeatedly until it returns True; between calls the process is checked,
    so a crash surfaces at once with its log instead of after the timeout.
    """

    def __init__(
        self,
        component: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        ready: Callable[[], bool],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        start_timeout: float = 60.0,
        stop_signal: int = signal.SIGTERM,
        hint: str = "",
        pid_file: Path | None = None,
    ) -> None:
        self.component = component
        self.argv = list(argv)
        self.log_path = log_path
        self.ready = ready
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.user = user
        self.start_timeout = start_timeout
        self.stop_signal = stop_signal
        self.hint = hint
        self.pid_file = pid_file
        """Written once started, so another process (`podlab down`) can stop this one."""
        self.proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> ManagedProcess:
        if self.running:
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== starting {self.component}: {' '.join(self.argv)}\n".encode())
            log.flush()
            try:
                self.proc = subprocess.Popen(
                    self.argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env,
                    cwd=self.cwd,
                    user=self.user,
                    start_new_session=True,  # own process group: stop() reaches its children
                )
            except OSError as err:
                raise ComponentError(
                    self.component, f"could not execute {self.argv[0]}: {err}", self.hint
                ) from err
        if self.pid_file is not None:
            self.pid_file.parent.mkdir(parents=True, exist_ok=True)
            self.pid_file.write_text(f"{self.proc.pid}\n")
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        delay = 0.05
        while True:
            code = self.proc.poll() if self.proc else None
            if code is not None:
                raise ComponentError(
                    self.component,
                    f"exited with code {code} while starting",
                    self.hint,
                    self.log_path,
                )
            if self.ready():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ComponentError(
                    self.component,
                    f"not ready after {self.start_timeout:.0f}s",
                    self.hint,
                    self.log_path,
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self, timeout: float = 15.0) -> None:
        """Signal the whole process group, wait, then kill what is left."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            # The same escalation `podlab down` uses on a PID file; then reap our child.
            stop_process_group(proc.pid, self.stop_signal, timeout=timeout)
            proc.wait(timeout=10)
        self.proc = None
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_http_server(
    component: str,
    argv: Sequence[str],
    *,
    health_url: str,
    log_path: Path,
    port: int,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    start_timeout: float = 60.0,
    hint: str = "",
    headers: Mapping[str, str] | None = None,
) -> ManagedProcess:
    """Start a server process and wait until `health_url` answers (e.g. MLflow's /health)."""
    require_port_free(component, port)
    return ManagedProcess(
        component,
        argv,
        log_path=log_path,
        ready=lambda: http_ok(health_url, headers=headers),
        env=env,
        cwd=cwd,
        start_timeout=start_timeout,
        hint=hint,
    ).start()


# -- processes started by an earlier command (make up -> make down) ---------------------------
def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    # A zombie has exited; it only waits for its parent to reap it.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def read_pid_file(pid_file: Path) -> int | None:
    """The PID in `pid_file`, or None when there is no file or it is unreadable."""
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def stop_process_group(pid: int, stop_signal: int = signal.SIGTERM, timeout: float = 10.0) -> bool:
    """Signal the process group led by `pid`, wait up to `timeout`, then kill what is left of
    the group (children that outlived their leader, e.g. a JVM's helpers); True if it was
    alive. A zombie counts as gone, so this also serves children we reap ourselves."""
    if not pid_alive(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, stop_signal)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    while pid_alive(pid) and time.monotonic() < deadline + 5:
        time.sleep(0.05)
    return True
