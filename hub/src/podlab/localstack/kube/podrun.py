"""One pod run by the pod runner: its containers as processes, their restarts, probes and the
status a kubelet would report for them.

Each container starts through `launch.py` in a mount namespace of its own (its volumes at
their paths), as the container's user, with the pod's loopback IP (podshim.so turns a bind to
0.0.0.0 into that IP). The image is not run: the command comes from the pod spec and runs from
the project's environment (PATH starts with the virtual environment the runner runs from).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from podlab.images import ImageModel, image_model, image_tag
from podlab.localstack.kube import topology
from podlab.localstack.kube.kubeapi import Obj
from podlab.localstack.kube.stand_ins import stand_in
from podlab.localstack.kube.volumes import (
    Kubelet,
    PreparedVolume,
    VolumeError,
    apply_fs_group,
    expand,
)
from podlab.localstack.paths import REPO_ROOT
from podlab.localstack.process import stop_process_group

log = logging.getLogger("podlab.pod-runner")
BACKOFF_START, BACKOFF_MAX = 10.0, 300.0
"""The kubelet's crash-loop back-off: 10 s, doubling, at most 5 minutes."""


_image_model = functools.cache(image_model)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_cri_log(proc: subprocess.Popen[bytes], path: Path) -> None:
    """Copy the process's stdout and stderr into `path` in the CRI log format a kubelet writes
    (`<RFC 3339 time> <stream> F <line>`), which kwok's `kubectl logs` reads."""
    lock = threading.Lock()
    out = open(path, "ab", buffering=0)  # noqa: SIM115 (closed by the last copier)
    remaining = [2]

    def copy(stream: str, pipe: IO[bytes]) -> None:
        for line in iter(pipe.readline, b""):
            stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            with lock:
                out.write(f"{stamp} {stream} F ".encode() + line.rstrip(b"\n") + b"\n")
        pipe.close()
        with lock:
            remaining[0] -= 1
            if remaining[0] == 0:
                out.close()

    for stream, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        assert pipe is not None
        threading.Thread(
            target=copy, args=(stream, pipe), daemon=True, name=f"log {path.name}"
        ).start()


@dataclass
class RuntimeSettings:
    """What every container of every pod gets from the runner."""

    shim: Path
    api_host: str
    api_port: int
    path: str
    max_readiness_period: float = 2.0
    """Readiness and startup probes run at most this often (kubelet: periodSeconds, often 10 s),
    so a test does not wait out a period after a slow first start. Liveness keeps its period."""
    events: Callable[[Obj, str, str, str, str | None], None] = lambda *a: None
    venv: Path = Path(sys.prefix)
    """The project's virtual environment: podlab images' /opt/venv."""
    repo_root: Path = REPO_ROOT
    releases: Path | None = None
    """`<releases>/<tag>/` holds the repository as of an earlier release (a test extracts it
    from git history): podlab images of that tag run that release's code, the way a cluster
    runs the images built from it; every other tag runs this checkout."""

    def image(self, reference: str) -> ImageModel | None:
        """What a podlab image gives its containers (images.py), or a third-party image the
        runner stands in for (stand_ins.py); None for other images."""
        tag = image_tag(reference)
        tree = self.releases / tag if self.releases is not None and tag else None
        if tree is None or not tree.is_dir():
            model = _image_model(reference, self.repo_root, self.path)
        else:
            model = _release_model(reference, tree, self.path)
        return model or stand_in(reference, self.path)


RELEASE_SOURCES = ("hub/src", "envlogger/src", "mlflow-server/src")
"""The repository's Python packages (installed into /opt/venv by the Dockerfiles)."""


@functools.cache
def _release_model(reference: str, tree: Path, base_path: str) -> ImageModel | None:
    """An image of an earlier release: its Dockerfile and files from `tree`, and its packages
    ahead of this checkout's editable installs in the shared /opt/venv (PYTHONPATH)."""
    model = image_model(reference, tree, base_path)
    if model is None:
        return None
    sources = [
        (tree / s, f"/opt/podlab-release/{s}") for s in RELEASE_SOURCES if (tree / s).is_dir()
    ]
    env = {**model.env, "PYTHONPATH": ":".join(target for _, target in sources)}
    return dataclasses.replace(model, files=[*model.files, *sources], env=env)


@dataclass
class Probe:
    spec: Obj
    kind: str  # readiness | liveness | startup
    successes: int = 0
    failures: int = 0
    passed: bool = False
    next_at: float = 0.0

    def period(self, settings: RuntimeSettings) -> float:
        period = float(self.spec.get("periodSeconds", 10))
        if self.kind != "liveness" and not self.passed:
            period = min(period, settings.max_readiness_period)
        return period


@dataclass
class ContainerRun:
    spec: Obj
    init: bool = False
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: Obj = field(default_factory=dict)
    started_at: float = 0.0
    next_start: float = 0.0
    backoff: float = BACKOFF_START
    probes: dict[str, Probe] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def ready(self) -> bool:
        if not self.running:
            return False
        startup = self.probes.get("startup")
        readiness = self.probes.get("readiness")
        return (startup is None or startup.passed) and (readiness is None or readiness.passed)

    @property
    def exit_code(self) -> int | None:
        terminated = self.state.get("terminated")
        return None if terminated is None else int(terminated["exitCode"])


class PodRun:
    """Start, watch and stop the containers of one pod; `status()` reports them."""

    def __init__(
        self, pod: Obj, ip: str, folder: Path, kubelet: Kubelet, settings: RuntimeSettings
    ) -> None:
        self.pod = pod
        self.uid: str = pod["metadata"]["uid"]
        self.ip = ip
        self.folder = folder
        self.kubelet = kubelet
        self.settings = settings
        self.start_time = now()
        self.volumes: dict[str, PreparedVolume] | None = None
        self.volume_error: str | None = None
        spec = pod["spec"]
        self.init = [ContainerRun(c, init=True) for c in spec.get("initContainers") or []]
        self.main = [ContainerRun(c) for c in spec.get("containers") or []]
        self.terminating = False
        self.host_dirs: list[Path] = []
        """Mount points this pod created on the host's filesystem (removed when it ends)."""
        folder.mkdir(parents=True, exist_ok=True)

    # -- identity -------------------------------------------------------------------------------
    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def restart_policy(self) -> str:
        return str(self.pod["spec"].get("restartPolicy", "Always"))

    def _security(self, container: Obj) -> tuple[int | None, int | None, list[int]]:
        """uid, gid and supplementary groups: the securityContext, else the image's USER."""
        pod_ctx = self.pod["spec"].get("securityContext") or {}
        ctx = {**pod_ctx, **(container.get("securityContext") or {})}
        model = self.settings.image(str(container.get("image", "")))
        image_uid, image_gid = model.user if model and model.user else (None, None)
        uid = ctx.get("runAsUser", image_uid)
        gid = ctx.get(
            "runAsGroup", image_gid if image_gid is not None else (0 if uid is not None else None)
        )
        groups = [int(g) for g in pod_ctx.get("supplementalGroups") or []]
        if pod_ctx.get("fsGroup") is not None:
            groups.append(int(pod_ctx["fsGroup"]))
        return (None if uid is None else int(uid)), (None if gid is None else int(gid)), groups

    # -- volumes --------------------------------------------------------------------------------
    def prepare_volumes(self) -> bool:
        """Make every volume; False (with the reason kept for the status) while one cannot be
        made yet, e.g. a claim still waiting for its volume."""
        if self.volumes is not None:
            return True
        prepared: dict[str, PreparedVolume] = {}
        try:
            for volume in self.pod["spec"].get("volumes") or []:
                prepared[volume["name"]] = self.kubelet.prepare(
                    self.pod, volume, self.folder / "volumes", self.ip, topology.NODE_IP
                )
        except VolumeError as err:
            if self.volume_error != str(err):
                self.settings.events(
                    self.pod, "Warning", "FailedMount", f"MountVolume.SetUp failed: {err}", None
                )
            self.volume_error = str(err)
            return False
        fs_group = (self.pod["spec"].get("securityContext") or {}).get("fsGroup")
        if fs_group is not None:
            managed = {
                v["name"]
                for v in self.pod["spec"].get("volumes") or []
                if "emptyDir" in v or "persistentVolumeClaim" in v
            }
            for name in managed:
                apply_fs_group(prepared[name].path, int(fs_group))
        self.volumes, self.volume_error = prepared, None
        return True

    def refresh_tokens(self) -> None:
        """Rewrite projected tokens past 80% of their lifetime, as the kubelet does."""
        for volume in (self.volumes or {}).values():
            for path, source in volume.tokens:
                lifetime = int(source.get("expirationSeconds", 3607))
                try:
                    age = time.time() - path.stat().st_mtime
                except OSError:
                    age = lifetime
                if age > 0.8 * lifetime:
                    try:
                        self.kubelet.write_token(self.pod, source, path)
                    except VolumeError as err:
                        log.warning("%s/%s: %s", self.namespace, self.name, err)

    def _mounts(self, container: Obj) -> list[dict[str, Any]]:
        assert self.volumes is not None
        mounts = []
        for mount in container.get("volumeMounts") or []:
            source = self.volumes[mount["name"]].path
            if mount.get("subPath"):
                source = source / mount["subPath"]
                if not source.exists():
                    source.mkdir(parents=True)
            mounts.append(
                {
                    "source": str(source),
                    "target": mount["mountPath"],
                    "read_only": bool(mount.get("readOnly")),
                }
            )
        return mounts

    def _project_mounts(self, mounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The project bound again at its own path, read-only, where a volume is mounted over a
        folder holding it: a checkout under /tmp, and the chart's pods mount an emptyDir at
        /tmp, would hide what the container runs from (its scripts' interpreter, the editable
        sources). The mount point is made inside that volume (`launch.py` mounts the deeper
        path after the volume)."""
        project = self.settings.repo_root.resolve()
        venv = self.settings.venv.resolve()
        paths = [project] + ([] if venv.is_relative_to(project) else [venv])
        again: list[dict[str, Any]] = []
        for path in paths:
            covering = [
                m for m in mounts
                if Path(m["target"]) != path and path.is_relative_to(m["target"])
                and Path(m["source"]).is_dir()
            ]  # fmt: skip
            for mount in covering:
                point = Path(mount["source"]) / path.relative_to(mount["target"])
                point.mkdir(parents=True, exist_ok=True)
            if covering:
                again.append({"source": str(path), "target": str(path), "read_only": True})
        return again

    def _mount_points(
        self,
        container: str,
        mounts: list[dict[str, Any]],
        claim: Callable[[Path], None],
        workdir: str,
    ) -> list[dict[str, str]]:
        """Make room for every mount target this machine lacks, without touching it: a
        placeholder in a layer that the launcher overlays (read-only, in the pod's namespace)
        on the nearest existing folder, e.g. `jovyan/` over /home. Targets inside another
        mount are made in that volume by the launcher, as the kubelet does. Where a layer
        cannot be overlaid (the folder holds the runner's own state, or is /), the folder is
        made on this machine and removed when no pod needs it any more."""
        layers: dict[Path, Path] = {}
        targets = [Path(m["target"]) for m in mounts]
        # The working directory exists in an image (WORKDIR makes it): a folder to make too.
        wanted = [*mounts, {"target": workdir, "source": "/"}]
        for mount in wanted:
            target = Path(mount["target"])
            if target.exists() or any(o != target and o in target.parents for o in targets):
                continue
            anchor = next(p for p in target.parents if p.exists())
            root = self.folder / "layers" / container
            if anchor == Path("/") or root.is_relative_to(anchor):
                self._make_on_host(target, claim)
                continue
            layer = layers.setdefault(anchor, root / f"layer-{len(layers)}")
            placeholder = layer / target.relative_to(anchor)
            if Path(mount["source"]).is_dir():
                placeholder.mkdir(parents=True, exist_ok=True)
            else:
                placeholder.parent.mkdir(parents=True, exist_ok=True)
                placeholder.touch()
        return [
            {"target": str(a), "layer": str(layer), "scratch": f"{layer}.scratch"}
            for a, layer in layers.items()
        ]

    def _make_on_host(self, target: Path, claim: Callable[[Path], None]) -> None:
        missing = [p for p in [target, *target.parents] if not p.exists()]
        for path in reversed(missing):
            path.mkdir(exist_ok=True)
        self.host_dirs.append(missing[-1])
        claim(missing[-1])

    def _image_mounts(self, container: Obj) -> list[dict[str, Any]]:
        """The repository files a podlab image copies in, and its /opt/venv: this environment."""
        model = self.settings.image(str(container.get("image", "")))
        if model is None:
            return []
        mounts = [{"source": str(source), "target": target, "read_only": True}
                  for source, target in model.files if source.exists()]  # fmt: skip
        mounts += [{"source": str(self.settings.venv), "target": target, "read_only": True}
                   for target in model.venv_paths]  # fmt: skip
        return mounts

    # -- containers -----------------------------------------------------------------------------
    def _base_env(self, container: Obj, uid: int | None) -> dict[str, str]:
        """What the runtime sets before the pod's own variables: the image's ENV over the
        defaults, then the `kubernetes` Service's variables as the kubelet adds them."""
        s = self.settings
        model = s.image(str(container.get("image", "")))
        return {
            "PATH": s.path,
            "HOME": "/root" if not uid else "/",
            **(model.env if model else {}),
            "HOSTNAME": self.name,
            "KUBERNETES_SERVICE_HOST": s.api_host,
            "KUBERNETES_SERVICE_PORT": str(s.api_port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(s.api_port),
            "KUBERNETES_PORT": f"tcp://{s.api_host}:{s.api_port}",
            "KUBERNETES_PORT_443_TCP": f"tcp://{s.api_host}:{s.api_port}",
            "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
            "KUBERNETES_PORT_443_TCP_ADDR": s.api_host,
            "KUBERNETES_PORT_443_TCP_PORT": str(s.api_port),
        }

    def start_container(self, run: ContainerRun, claim: Callable[[Path], None]) -> None:
        spec = run.spec
        uid, gid, groups = self._security(spec)
        try:
            env = self.kubelet.environment(
                self.pod, spec, self._base_env(spec, uid), self.ip, topology.NODE_IP
            )
        except VolumeError as err:
            run.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(err)}}
            run.next_start = time.monotonic() + 2
            return
        model = self.settings.image(str(spec.get("image", "")))
        command, args = spec.get("command") or [], spec.get("args") or []
        argv = model.argv(command, args) if model else [*command, *args]
        argv = [expand(a, env) for a in argv]
        if not (command or (model and (model.entrypoint or model.cmd))):
            message = (
                "the pod runner runs no images: the container needs a `command` "
                f"(image {spec.get('image')!r} is not one of podlab's images)"
            )
            run.state = {"waiting": {"reason": "CreateContainerError", "message": message}}
            run.next_start = time.monotonic() + 10
            return
        env = {**env, "PODLAB_POD_IP": self.ip, "LD_PRELOAD": str(self.settings.shim)}
        mounts = [*self._image_mounts(spec), *self._mounts(spec)]
        if self.hosts_path.exists() and not any(m["target"] == "/etc/hosts" for m in mounts):
            mounts.append(
                {"source": str(self.hosts_path), "target": "/etc/hosts", "read_only": True}
            )
        mounts += self._project_mounts(mounts)
        workdir = spec.get("workingDir") or (model.workdir if model else None) or "/"
        launch = {
            "overlays": self._mount_points(run.name, mounts, claim, workdir),
            "mounts": mounts,
            "uid": uid,
            "gid": gid,
            "groups": groups,
            "argv": argv,
            "env": env,
            "workdir": workdir,
            "hostname": self.pod["spec"].get("hostname") or self.name,
        }
        spec_path = self.folder / f"{run.name}.launch.json"
        spec_path.write_text(json.dumps(launch))
        spec_path.chmod(0o600)
        log_path = self.log_path(run)
        if log_path.exists():  # a restart, or a pod started again by a new runner
            os.replace(log_path, log_path.with_suffix(".previous.log"))
        run.proc = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--uts",
                "--propagation",
                "private",
                "--",
                sys.executable,
                "-m",
                "podlab.localstack.kube.launch",
                str(spec_path),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        write_cri_log(run.proc, log_path)
        run.env = env
        run.started_at = time.monotonic()
        run.state = {"running": {"startedAt": now()}}
        run.probes = {
            kind: Probe(spec[f"{kind}Probe"], kind)
            for kind in ("startup", "readiness", "liveness")
            if spec.get(f"{kind}Probe")
        }
        for probe in run.probes.values():
            probe.next_at = run.started_at + float(probe.spec.get("initialDelaySeconds", 0))
        self.settings.events(
            self.pod, "Normal", "Started", f"Started container {run.name}", run.name
        )

    @property
    def hosts_path(self) -> Path:
        return self.folder / "hosts"

    def write_hosts(self, content: str) -> None:
        """The pod's /etc/hosts, rewritten in place (a bind-mounted file keeps its inode)."""
        path = self.hosts_path
        if path.exists() and path.read_text() == content:
            return
        with open(path, "a+") as out:
            out.seek(0)
            out.truncate()
            out.write(content)
        path.chmod(0o644)

    def log_path(self, run: ContainerRun) -> Path:
        return self.folder / f"{run.name}.log"

    def exec_env(self, run: ContainerRun) -> dict[str, str]:
        """What `kubectl exec` into this container runs with (podshim.so enters the pod)."""
        uid, gid, groups = self._security(run.spec)
        env = dict(run.env)
        if run.proc is not None:
            env["PODLAB_POD_MNTNS"] = f"/proc/{run.proc.pid}/ns/mnt"
        model = self.settings.image(str(run.spec.get("image", "")))
        env["PODLAB_POD_WORKDIR"] = run.spec.get("workingDir") or (model and model.workdir) or "/"
        if uid is not None:
            env["PODLAB_POD_UID"] = str(uid)
        if gid is not None:
            env["PODLAB_POD_GID"] = str(gid)
            env["PODLAB_POD_GROUPS"] = ",".join(str(g) for g in groups)
        return env

    def _exited(self, run: ContainerRun, code: int) -> None:
        reason = "Completed" if code == 0 else "Error"
        if code < 0:
            code, reason = 128 - code, "Error"  # killed by a signal: 128 + its number
        started = run.state.get("running", {}).get("startedAt", now())
        run.state = {
            "terminated": {
                "exitCode": code,
                "reason": reason,
                "startedAt": started,
                "finishedAt": now(),
            }
        }
        run.proc = None
        level = "Normal" if code == 0 else "Warning"
        self.settings.events(
            self.pod, level, "Exited", f"Container {run.name} exited with code {code}", run.name
        )

    def _should_restart(self, run: ContainerRun) -> bool:
        code = run.exit_code
        if run.init:
            return code != 0 and self.restart_policy != "Never"
        return self.restart_policy == "Always" or (self.restart_policy == "OnFailure" and code != 0)

    def _schedule_restart(self, run: ContainerRun) -> None:
        if time.monotonic() - run.started_at > 600:
            run.backoff = BACKOFF_START  # it ran for 10 minutes: the back-off starts over
        run.last_state = run.state
        run.restarts += 1
        run.next_start = time.monotonic() + run.backoff
        message = (
            f"back-off {run.backoff:.0f}s restarting failed container={run.name} pod={self.name}"
        )
        run.state = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
        self.settings.events(self.pod, "Warning", "BackOff", message, run.name)
        run.backoff = min(run.backoff * 2, BACKOFF_MAX)

    def step(self, claim: Callable[[Path], None]) -> None:
        """Advance the pod by one look: volumes, init containers in order, then the rest."""
        if self.terminating or self.finished:
            return
        if not self.prepare_volumes():
            return
        self.refresh_tokens()
        for run in self.init:
            if run.exit_code == 0 and not run.running:
                continue
            self._advance(run, claim)
            return  # one init container at a time, in order
        for run in self.main:
            self._advance(run, claim)

    def _advance(self, run: ContainerRun, claim: Callable[[Path], None]) -> None:
        if run.proc is not None:
            code = run.proc.poll()
            if code is None:
                self._probe_all(run)
                return
            self._exited(run, code)
        if "terminated" in run.state:
            if not self._should_restart(run):
                return
            self._schedule_restart(run)
        if time.monotonic() >= run.next_start:
            self.start_container(run, claim)

    # -- probes ---------------------------------------------------------------------------------
    def _probe_all(self, run: ContainerRun) -> None:
        startup = run.probes.get("startup")
        for probe in run.probes.values():
            if probe.kind != "startup" and startup is not None and not startup.passed:
                continue
            if probe.kind == "startup" and probe.passed:
                continue
            if time.monotonic() < probe.next_at:
                continue
            ok = self._probe_once(run, probe.spec)
            probe.next_at = time.monotonic() + probe.period(self.settings)
            if ok:
                probe.successes, probe.failures = probe.successes + 1, 0
                if probe.successes >= int(probe.spec.get("successThreshold", 1)):
                    probe.passed = True
                continue
            probe.successes, probe.failures = 0, probe.failures + 1
            if probe.failures >= int(probe.spec.get("failureThreshold", 3)):
                if probe.kind == "readiness":
                    probe.passed = False
                else:
                    message = f"{probe.kind.title()} probe failed; the container will be restarted"
                    self.settings.events(self.pod, "Warning", "Unhealthy", message, run.name)
                    self._kill(run)
                    return

    def _port(self, run: ContainerRun, port: Any) -> int:
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for declared in run.spec.get("ports") or []:
            if declared.get("name") == port:
                return int(declared["containerPort"])
        raise ValueError(f"no port named {port}")

    def _probe_once(self, run: ContainerRun, spec: Obj) -> bool:
        timeout = float(spec.get("timeoutSeconds", 1))
        try:
            if "httpGet" in spec:
                get = spec["httpGet"]
                host = get.get("host") or self.ip
                scheme, port = get.get("scheme", "HTTP").lower(), self._port(run, get["port"])
                url = f"{scheme}://{host}:{port}{get.get('path', '/')}"
                headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
                request = urllib.request.Request(url, headers=headers)  # noqa: S310
                try:
                    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                        return 200 <= int(response.status) < 400
                except urllib.error.HTTPError as err:
                    return 200 <= err.code < 400
            if "tcpSocket" in spec:
                port = self._port(run, spec["tcpSocket"]["port"])
                with socket.create_connection(
                    (spec["tcpSocket"].get("host") or self.ip, port), timeout=timeout
                ):
                    return True
            if "exec" in spec:
                proc = subprocess.run(
                    spec["exec"]["command"],
                    env=self.exec_env(run),
                    capture_output=True,
                    timeout=max(timeout, 1.0),
                    check=False,
                )
                return proc.returncode == 0
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return False
        return True  # grpc probes are not run: counted as passing

    # -- stopping -------------------------------------------------------------------------------
    def _kill(self, run: ContainerRun, grace: float = 30.0) -> None:
        proc = run.proc
        if proc is not None and proc.poll() is None:
            stop_process_group(proc.pid, signal.SIGTERM, timeout=grace)
            code = proc.wait(timeout=10)
            self._exited(run, code)

    def stop(self, grace: float) -> None:
        """SIGTERM every container, SIGKILL what is left after `grace` seconds."""
        self.terminating = True
        for run in [*self.main, *self.init]:
            if run.running:
                self.settings.events(
                    self.pod, "Normal", "Killing", f"Stopping container {run.name}", run.name
                )
        deadline = time.monotonic() + grace
        for run in [*self.main, *self.init]:
            self._kill(run, max(0.5, deadline - time.monotonic()))

    # -- status ---------------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        """Init containers done and every container started at least once."""
        return all(c.exit_code == 0 for c in self.init) and all(
            c.running or "terminated" in c.state or c.restarts for c in self.main
        )

    def _done(self, run: ContainerRun) -> bool:
        return "terminated" in run.state and not self._should_restart(run)

    def phase(self) -> str:
        if any(self._done(c) and c.exit_code != 0 for c in self.init):
            return "Failed"
        if self.restart_policy != "Always" and self.main and all(self._done(c) for c in self.main):
            return "Succeeded" if all(c.exit_code == 0 for c in self.main) else "Failed"
        return "Running" if self.started else "Pending"

    @property
    def finished(self) -> bool:
        """Every container ended and none will restart."""
        return self.phase() in ("Succeeded", "Failed")

    def _container_status(self, run: ContainerRun) -> Obj:
        status: Obj = {
            "name": run.name,
            "image": run.spec.get("image", ""),
            "imageID": "",
            "ready": run.ready,
            "started": run.running,
            "restartCount": run.restarts,
            "state": run.state,
        }
        if run.proc is not None:
            status["containerID"] = f"podlab://{self.uid}/{run.name}/{run.restarts}"
        if run.last_state:
            status["lastState"] = run.last_state
        if self.volume_error and "waiting" in run.state:
            status["state"] = {
                "waiting": {"reason": "ContainerCreating", "message": self.volume_error}
            }
        return status

    def status(self, current: Obj) -> Obj:
        phase = self.phase()
        initialized = all(c.exit_code == 0 for c in self.init)
        containers_ready = phase == "Running" and all(c.ready for c in self.main)
        gates = [g["conditionType"] for g in self.pod["spec"].get("readinessGates") or []]
        existing = {c["type"]: c for c in current.get("conditions") or []}
        gates_ok = all(existing.get(g, {}).get("status") == "True" for g in gates)
        mine = {
            "PodReadyToStartContainers": self.volumes is not None,
            "Initialized": initialized,
            "ContainersReady": containers_ready,
            "Ready": containers_ready and gates_ok,
        }
        conditions = [c for t, c in existing.items() if t not in mine]
        for kind, value in mine.items():
            text = "True" if value else "False"
            previous = existing.get(kind)
            changed = previous is None or previous.get("status") != text
            conditions.append(
                {
                    "type": kind,
                    "status": text,
                    "lastProbeTime": None,
                    "lastTransitionTime": (
                        now() if previous is None or changed else previous.get("lastTransitionTime")
                    ),
                }
            )
        return {
            "phase": phase,
            "conditions": conditions,
            "hostIP": topology.NODE_IP,
            "hostIPs": [{"ip": topology.NODE_IP}],
            "podIP": self.ip,
            "podIPs": [{"ip": self.ip}],
            "startTime": self.start_time,
            "initContainerStatuses": [self._container_status(c) for c in self.init] or None,
            "containerStatuses": [self._container_status(c) for c in self.main],
        }
