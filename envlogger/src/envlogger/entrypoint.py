"""What the user launched: a script, a `python -m` module, a notebook, a REPL or pytest.

`sys.argv[0]` alone is misleading: in Jupyter it is `ipykernel_launcher.py`, under pytest it is
the pytest executable, with `-m` it is the module's file. The notebook path comes from the
Jupyter server that owns the kernel (its sessions API knows the current name after a rename),
else `JPY_SESSION_NAME` (set by jupyter_server when the kernel starts), IPython's `__session__`,
or VS Code's `__vsc_ipynb_file__`.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REDACTED = "***"
# A pattern of option names, not a password.
_SECRET_WORDS = "|".join(
    [r"token", r"passw(?:or)?d", r"passwd", r"pwd", r"secret", r"api[-_]?key", r"apikey",
     r"access[-_]?key", r"private[-_]?key", r"credential", r"auth", r"session[-_]?key",
     r"signature", r"cookie"]
)  # fmt: skip
_SECRET_OPTION = re.compile(rf"^(-{{1,2}}[\w.-]*?(?:{_SECRET_WORDS})[\w.-]*)(=.*)?$", re.I)
_SECRET_ASSIGN = re.compile(rf"^([A-Za-z_][\w.-]*?(?:{_SECRET_WORDS})[\w.-]*)=(.*)$", re.I)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^/@:\s]*):[^/@\s]*@")


def redact_argv(argv: list[str]) -> list[str]:
    """Replace values of secret-looking options and `NAME=value` pairs by `***`.

    Handles `--token=x`, `--password x`, `--api-key x`, `AWS_SECRET_ACCESS_KEY=x` and
    passwords embedded in URLs (`https://user:pw@host` -> `https://user:***@host`).
    """
    out: list[str] = []
    redact_next = False
    for arg in argv:
        if redact_next:
            redact_next = False
            if not arg.startswith("--"):
                out.append(REDACTED)
                continue
        match = _SECRET_OPTION.match(arg)
        if match:
            if match.group(2) is not None:
                out.append(f"{match.group(1)}={REDACTED}")
            else:
                out.append(arg)
                redact_next = True
            continue
        assign = _SECRET_ASSIGN.match(arg)
        if assign and not arg.startswith("-"):
            out.append(f"{assign.group(1)}={REDACTED}")
            continue
        out.append(_URL_USERINFO.sub(rf"\g<scheme>\g<user>:{REDACTED}@", arg))
    return out


@dataclass(frozen=True)
class EntryPoint:
    kind: str  # script | module | notebook | interactive | command | stdin | pytest | ipython
    path: str | None = None  # relative to the repository root when inside it
    abs_path: str | None = None
    module: str | None = None
    test: str | None = None
    cwd: str | None = None

    def describe(self) -> str:
        """Short form for the `envlogger.entry_point` tag: `script:train.py`."""
        detail = self.module if self.kind == "module" else self.path
        if self.kind == "pytest" and self.test:
            detail = self.test
        return f"{self.kind}:{detail}" if detail else self.kind

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "abs_path": self.abs_path,
            "module": self.module,
            "test": self.test,
            "cwd": self.cwd,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EntryPoint:
        return cls(
            kind=data.get("kind", "unknown"),
            path=data.get("path"),
            abs_path=data.get("abs_path"),
            module=data.get("module"),
            test=data.get("test"),
            cwd=data.get("cwd"),
        )


@dataclass(frozen=True)
class RawEntryPoint:
    """The entry point before we know the repository (its root makes `path` relative)."""

    kind: str
    file: Path | None
    module: str | None = None
    test: str | None = None


def _ipython_namespace() -> dict[str, Any] | None:
    ns = getattr(_shell(), "user_ns", None)
    return ns if isinstance(ns, dict) else None


def _kernel_connection_file() -> Path | None:
    """ipykernel is started with `-f .../kernel-<id>.json` (also `--f=`)."""
    for index, arg in enumerate(sys.argv):
        value = None
        if arg == "-f" and index + 1 < len(sys.argv):
            value = sys.argv[index + 1]
        elif arg.startswith(("-f=", "--f=")):
            value = arg.split("=", 1)[1]
        if value and _KERNEL_FILE.search(value):
            return Path(value)
    return None


_KERNEL_FILE = re.compile(r"kernel-([0-9a-fA-F-]+)\.json$")


def _live_session_path(timeout: float = 0.5) -> Path | None:
    """The notebook's path now, asked from the Jupyter server that started this kernel.

    JPY_SESSION_NAME is fixed when the kernel starts, so a notebook renamed afterwards (every
    "Untitled.ipynb" that gets a real name) would be recorded under its old name. The server
    writes jpserver-<pid>.json (url, token, root_dir) next to the kernel's connection file;
    its sessions API maps this kernel to the notebook's current path.
    """
    connection = _kernel_connection_file()
    if connection is None:
        return None
    match = _KERNEL_FILE.search(connection.name)
    kernel_id = match.group(1) if match else None
    runtime_dirs = [connection.parent]
    if os.environ.get("JUPYTER_RUNTIME_DIR"):
        runtime_dirs.append(Path(os.environ["JUPYTER_RUNTIME_DIR"]))
    for runtime in runtime_dirs:
        for info_file in sorted(runtime.glob("jpserver-*.json")):
            try:
                info = json.loads(info_file.read_text())
                url = str(info["url"])
                if not url.startswith(("http://", "https://")):
                    continue
                token = info.get("token") or os.environ.get("JUPYTERHUB_API_TOKEN", "")
                request = urllib.request.Request(  # noqa: S310 (scheme checked above)
                    url.rstrip("/") + "/api/sessions",
                    headers={"Authorization": f"token {token}"} if token else {},
                )
                with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                    sessions = json.load(response)
            except (OSError, ValueError, KeyError):
                continue
            for session in sessions if isinstance(sessions, list) else []:
                if (session.get("kernel") or {}).get("id") == kernel_id and session.get("path"):
                    root = Path(str(info.get("root_dir") or info.get("notebook_dir") or "."))
                    return (root.expanduser() / str(session["path"])).resolve()
    return None


def _notebook_path() -> Path | None:
    live = _live_session_path()
    if live is not None:
        return live
    ns = _ipython_namespace() or {}
    for candidate in (
        os.environ.get("JPY_SESSION_NAME"),
        ns.get("__session__"),
        ns.get("__vsc_ipynb_file__"),
    ):
        if isinstance(candidate, str) and candidate:
            path = Path(candidate)
            if path.suffix in (".ipynb", ".py", ".md") or path.exists():
                return path.expanduser()
    return None


def detect_raw() -> RawEntryPoint:
    main = sys.modules.get("__main__")
    argv0 = sys.argv[0] if sys.argv else ""
    in_kernel = "ipykernel" in sys.modules and (
        "ipykernel" in argv0 or type(_shell()).__name__ == "ZMQInteractiveShell"
    )
    if in_kernel:
        nb = _notebook_path()
        return RawEntryPoint("notebook", nb)
    if "pytest" in sys.modules and (
        Path(argv0).name in ("pytest", "py.test")
        or getattr(getattr(main, "__spec__", None), "name", "") in ("pytest", "pytest.__main__")
        or "PYTEST_CURRENT_TEST" in os.environ
    ):
        current = os.environ.get("PYTEST_CURRENT_TEST", "")
        test = _xdist_group_removed(current.rsplit(" (", 1)[0]) if current else None
        file = Path(test.split("::", 1)[0]).resolve() if test else None
        return RawEntryPoint("pytest", file, test=test)
    if _shell() is not None:
        return RawEntryPoint("ipython", None)
    spec = getattr(main, "__spec__", None)
    main_file = getattr(main, "__file__", None)
    if spec is not None and getattr(spec, "name", None):
        name = str(spec.name)
        module = name[: -len(".__main__")] if name.endswith(".__main__") else name
        return RawEntryPoint("module", Path(main_file).resolve() if main_file else None, module)
    if main_file:
        return RawEntryPoint("script", Path(main_file).resolve())
    if argv0 == "-c":
        return RawEntryPoint("command", None)
    if argv0 == "-":
        return RawEntryPoint("stdin", None)
    return RawEntryPoint("interactive", None)


def _shell() -> object | None:
    if "IPython" not in sys.modules:
        return None
    try:
        from IPython import get_ipython

        shell: object | None = get_ipython()
        return shell
    except Exception:
        return None


def resolve(raw: RawEntryPoint, repo_root: str | None) -> EntryPoint:
    cwd = os.getcwd()
    path: str | None = None
    abs_path: str | None = None
    if raw.file is not None:
        file = raw.file if raw.file.is_absolute() else Path(cwd, raw.file)
        abs_path = str(file)
        path = str(file)
        if repo_root:
            try:
                path = file.resolve().relative_to(Path(repo_root).resolve()).as_posix()
            except ValueError:
                path = str(file)
    return EntryPoint(
        kind=raw.kind, path=path, abs_path=abs_path, module=raw.module, test=raw.test, cwd=cwd
    )


def _xdist_group_removed(test: str) -> str:
    """`tests/a.py::test_x@group` -> `tests/a.py::test_x`: pytest-xdist's `--dist loadgroup`
    appends the group to the id it runs a test under; an `@` inside a parameter id stays."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return test
    at = test.rfind("@")
    return test[:at] if at > max(test.rfind("]"), test.rfind("::")) else test
