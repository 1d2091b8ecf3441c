"""A real Kubernetes control plane on one machine, without Docker: `make kube-up` and the tests.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler (built from the Go module
proxy by .ci/kube-tools.sh) run as local processes; kwok keeps the simulated nodes alive and
plays the pods nobody needs to really run; the pod runner (runner.py) runs the pods labelled
`podlab.io/pod-runner=local` as local processes and provisions volumes. Admission is the real
chain (PodSecurity, ResourceQuota, LimitRanger, ServiceAccount, NodeRestriction, ...),
authorization is Node,RBAC, and TokenRequest works.

Everything listens on 127.0.0.1 (see topology.py for the address plan). A warm start reuses the
state directory (certificates, etcd data), so kubeconfigs and objects survive `kube-down`.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import IO, Any, TextIO

import yaml

from podlab.localstack.kube import topology
from podlab.localstack.kube.pki import Pki, ensure_pki, issue_client
from podlab.localstack.paths import REPO_ROOT, TOOLS_BIN
from podlab.localstack.process import (
    ComponentError,
    ManagedProcess,
    free_port,
    pid_alive,
    port_in_use,
    read_pid_file,
    stop_process_group,
)

HOST = "127.0.0.1"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "pod-runner",
)
"""Start order; stopping goes backwards."""
BUILD_HINT = (
    "run `make setup` (it builds the Kubernetes binaries into a cache, see docs/development.md)"
)
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"


class KubeError(RuntimeError):
    """The test bed cannot start or stop; the message says what to do."""


@dataclass(frozen=True)
class Ports:
    etcd: int = 17379
    etcd_peer: int = 17380
    apiserver: int = 17443
    controller_manager: int = 17257
    scheduler: int = 17259
    kwok: int = 17250

    @classmethod
    def free(cls) -> Ports:
        """Ports nothing listens on now (the tests: several beds may run side by side)."""
        taken: set[int] = set()
        chosen = []
        for _ in range(6):
            port = free_port(HOST)
            while port in taken:
                port = free_port(HOST)
            taken.add(port)
            chosen.append(port)
        return cls(*chosen)

    def by_component(self) -> dict[str, list[int]]:
        return {
            "etcd": [self.etcd, self.etcd_peer],
            "kube-apiserver": [self.apiserver],
            "kube-controller-manager": [self.controller_manager],
            "kube-scheduler": [self.scheduler],
            "kwok": [self.kwok],
            "pod-runner": [],
        }


@dataclass(frozen=True)
class KubeSettings:
    state_dir: Path
    ports: Ports = field(default_factory=Ports)
    runner_selector: tuple[tuple[str, tuple[str, ...]], ...] = topology.RUNNER_SELECTOR
    """Pods the runner runs: any of these labels with one of its values (no values: the label
    is present). kwok's pod stages get the negation, so the two never act on the same pod."""
    bin_dir: Path = TOOLS_BIN
    pid_files: bool = True
    logs: Path | None = None
    """Component logs (default: <state_dir>/logs)."""
    audit_users: tuple[str, ...] = ()
    """API users whose every request the API server writes to <logs>/audit.log (JSON lines,
    metadata only): how a benchmark counts the requests of a hub."""
    plan_index: int | None = None
    """The address plan (topology.AddressPlan); None: the one this state dir used before, or
    the first one no other bed on the machine holds."""

    @classmethod
    def from_env(cls, state_dir: str | None = None) -> KubeSettings:
        env = os.environ
        root = Path(state_dir or env.get("PODLAB_KUBE_DIR") or REPO_ROOT / ".podlab" / "kube")
        ports = Ports()
        if env.get("PODLAB_KUBE_API_PORT"):
            ports = replace(ports, apiserver=int(env["PODLAB_KUBE_API_PORT"]))
        return cls(state_dir=root, ports=ports)

    @property
    def log_dir(self) -> Path:
        return self.logs or self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def releases_dir(self) -> Path:
        """`<tag>/` here: the source tree whose code podlab images of that tag run (the pod
        runner's RuntimeSettings.releases)."""
        return self.state_dir / "runner" / "releases"

    def pid_file(self, component: str) -> Path | None:
        return self.run_dir / f"{component}.pid" if self.pid_files else None


def binary(bin_dir: Path, name: str) -> str:
    """A binary the set-up built (tools/bin), or a KubeError saying how to build it. PATH is
    not searched: a distribution's etcd 3.4 or an older kubectl would start and then fail."""
    local = bin_dir / name
    if not local.exists():
        raise KubeError(f"{name} is not built: {BUILD_HINT}")
    return str(local)


def write_kubeconfig(
    path: Path, server: str, pki: Pki, client: str, namespace: str = "default"
) -> Path:
    """A kubeconfig with file references into the PKI folder (client certificate auth)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "podlab-kube",
                "cluster": {"server": server, "certificate-authority": str(pki.ca_cert)},
            }
        ],
        "users": [
            {
                "name": client,
                "user": {
                    "client-certificate": str(pki.cert(client)),
                    "client-key": str(pki.key(client)),
                },
            }
        ],
        "contexts": [
            {
                "name": "podlab-kube",
                "context": {"cluster": "podlab-kube", "user": client, "namespace": namespace},
            }
        ],
        "current-context": "podlab-kube",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _https_ok(url: str, context: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _insecure_context() -> ssl.SSLContext:
    """For the /healthz of components whose serving certificate they make themselves."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def kwok_stages(selector: tuple[tuple[str, tuple[str, ...]], ...]) -> list[dict[str, Any]]:
    """kwok's stages, each Pod stage extended so it never matches a pod the runner runs."""
    text = resources.files("podlab.localstack.kube").joinpath("kwok-stages.yaml").read_text()
    stages = [s for s in yaml.safe_load_all(text) if s]
    exclusions = []
    for key, values in selector:
        expression: dict[str, Any] = {"key": f'.metadata.labels["{key}"]'}
        if values:
            expression.update(operator="NotIn", values=list(values))
        else:
            expression.update(operator="DoesNotExist")
        exclusions.append(expression)
    for stage in stages:
        if stage["spec"]["resourceRef"]["kind"] == "Pod":
            stage["spec"]["selector"]["matchExpressions"].extend(exclusions)
    return stages


@dataclass
class KubeCluster:
    """The test bed. `up()` starts what is not running, `down()` stops it, `status()` reports."""

    settings: KubeSettings
    out: TextIO = sys.stdout
    processes: dict[str, ManagedProcess] = field(default_factory=dict, init=False)
    pki: Pki = field(init=False)
    plan: topology.AddressPlan = field(init=False)
    _plan_lock: IO[str] | None = field(default=None, init=False)

    @property
    def api_url(self) -> str:
        return f"https://{HOST}:{self.settings.ports.apiserver}"

    @property
    def kubeconfig(self) -> Path:
        return self.settings.kubeconfig

    # -- up --------------------------------------------------------------------------------------
    def up(self) -> KubeCluster:
        began = time.monotonic()
        settings = self.settings
        binaries = {name: binary(settings.bin_dir, name) for name in BINARIES}
        self._check_not_running()
        for component, ports in settings.ports.by_component().items():
            for port in ports:
                if port_in_use(port, HOST):
                    raise KubeError(
                        f"{component}: port {port} on {HOST} is already in use. Stop what holds "
                        f"it (`ss -ltnp | grep :{port}`), or `make kube-down` if it is an "
                        "earlier test bed."
                    )
        if os.geteuid() != 0:
            raise KubeError(
                "the pod runner needs root (it mounts each pod's volumes in a mount namespace "
                "of its own): run as root, e.g. in the development container"
            )
        for folder in (settings.state_dir, settings.log_dir, settings.run_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.plan = self._address_plan()
        self.pki = ensure_pki(settings.state_dir / "pki", (HOST, self.plan.service_ip()))
        for client in ("admin", "controller-manager", "scheduler", "kwok", "runner"):
            target = (
                settings.kubeconfig
                if client == "admin"
                else settings.run_dir / f"{client}.kubeconfig"
            )
            write_kubeconfig(target, self.api_url, self.pki, client)
        try:
            self._start("etcd", self._etcd_argv(binaries["etcd"]), self._etcd_ready, 60)
            self._start(
                "kube-apiserver",
                self._apiserver_argv(binaries["kube-apiserver"]),
                self._apiserver_ready,
                120,
            )
            self._step("bootstrap", "nodes, storage class, kwok CRDs", self._bootstrap)
            self._start(
                "kube-controller-manager",
                self._controller_manager_argv(binaries["kube-controller-manager"]),
                self._healthz(settings.ports.controller_manager),
                60,
            )
            self._start(
                "kube-scheduler",
                self._scheduler_argv(binaries["kube-scheduler"]),
                self._healthz(settings.ports.scheduler),
                60,
            )
            self._start(
                "kwok", self._kwok_argv(binaries["kwok"]), self._healthz(settings.ports.kwok), 60
            )
            with topology.selecting():  # no other bed picks the plan while it changes hands
                self._release_plan()  # the runner holds it from now on (before it is ready)
                self._start("pod-runner", self._runner_argv(), self._runner_ready, 60)
            self._step("cluster", "nodes Ready, default ServiceAccount", self._wait_usable)
        except (ComponentError, KubeError, OSError) as err:
            self._say(f"\nstarting failed: {err}\nstopping what was started ...")
            self.down(quiet=True)
            if isinstance(err, KubeError):
                raise
            raise KubeError(str(err)) from None
        self._say(
            f"Kubernetes test bed is up in {time.monotonic() - began:.1f}s "
            f"({self.api_url}, logs in {settings.log_dir})"
        )
        return self

    def _address_plan(self) -> topology.AddressPlan:
        """The plan this state dir was made with (node and Service IPs live in etcd), else a
        free one, held until the pod runner takes it over; another bed holding it is an
        error that says what to do."""
        recorded = self.settings.state_dir / "address-plan"
        with topology.selecting():
            if recorded.exists():
                plan = topology.AddressPlan(int(recorded.read_text().strip()))
            elif self.settings.plan_index is not None:
                plan = topology.AddressPlan(self.settings.plan_index)
            else:
                plan = topology.free_plan()
            self._plan_lock = plan.hold()
        if self._plan_lock is None:
            raise KubeError(
                f"the addresses of this test bed ({plan.pod_cidr}, {plan.service_cidr}) are "
                f"held by another bed on this machine ({plan.lock_path}): stop it "
                "(`make kube-down`, or let its test run end), or use another state dir "
                "(PODLAB_KUBE_DIR)"
            )
        recorded.write_text(f"{plan.index}\n")
        return plan

    def _check_not_running(self) -> None:
        for component in COMPONENTS:
            pid_file = self.settings.pid_file(component)
            if pid_file is None or not pid_file.exists():
                continue
            pid = read_pid_file(pid_file)
            if pid is not None and pid_alive(pid):
                raise KubeError(
                    f"the test bed is already running: {component} has pid {pid} ({pid_file}). "
                    "Run `make kube-down` first, or `make kube-status` to see what runs."
                )
            pid_file.unlink()

    def _start(
        self, component: str, argv: list[str], ready: Callable[[], bool], timeout: float
    ) -> None:
        # kwok looks up an exec'd command on its own PATH: the project's tools come first there.
        path = os.pathsep.join(
            [
                str(Path(sys.executable).parent),
                str(self.settings.bin_dir),
                os.environ.get("PATH", "/usr/bin:/bin"),
            ]
        )
        process = ManagedProcess(
            component,
            argv,
            log_path=self.settings.log_dir / f"{component}.log",
            ready=ready,
            env={**os.environ, "PATH": path},
            start_timeout=timeout,
            hint=f"read the log above; {BUILD_HINT} if a binary is missing or stale",
            pid_file=self.settings.pid_file(component),
        )
        self._step(
            component,
            " ".join(str(p) for p in self.settings.ports.by_component()[component]) or "-",
            process.start,
        )
        self.processes[component] = process

    def _step(self, name: str, where: str, action: Callable[[], Any]) -> None:
        began = time.monotonic()
        action()
        self._say(f"  {name:<24} {where:<34} ready in {time.monotonic() - began:.1f}s")

    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    # -- the components ---------------------------------------------------------------------------
    def _etcd_argv(self, etcd: str) -> list[str]:
        ports = self.settings.ports
        client, peer = f"http://{HOST}:{ports.etcd}", f"http://{HOST}:{ports.etcd_peer}"
        return [
            etcd,
            "--name=podlab",
            f"--data-dir={self.settings.state_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=podlab={peer}",
            "--listen-metrics-urls=",
            "--unsafe-no-fsync",  # a test bed: speed over durability on power loss
            "--log-level=warn",
        ]

    def _etcd_ready(self) -> bool:
        try:
            url = f"http://{HOST}:{self.settings.ports.etcd}/health"
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(json.loads(response.read()).get("health") == "true")
        except (OSError, ValueError):
            return False

    def _apiserver_argv(self, apiserver: str) -> list[str]:
        pki, ports = self.pki, self.settings.ports
        return [
            apiserver,
            f"--etcd-servers=http://{HOST}:{ports.etcd}",
            f"--bind-address={HOST}",
            f"--advertise-address={HOST}",
            f"--secure-port={ports.apiserver}",
            f"--tls-cert-file={pki.cert('apiserver')}",
            f"--tls-private-key-file={pki.key('apiserver')}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-account-issuer={SA_ISSUER}",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            f"--service-cluster-ip-range={self.plan.service_cidr}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction,PodSecurity,ResourceQuota,LimitRanger,"
            "ServiceAccount,DefaultStorageClass,StorageObjectInUseProtection",
            "--endpoint-reconciler-type=none",  # Endpoints may not hold loopback addresses
            f"--kubelet-client-certificate={pki.cert('apiserver-kubelet-client')}",
            f"--kubelet-client-key={pki.key('apiserver-kubelet-client')}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--cert-dir={self.settings.state_dir / 'apiserver-certs'}",
            *self._audit_args(),
            "--profiling=false",
            "--v=1",
        ]

    def _audit_args(self) -> list[str]:
        if not self.settings.audit_users:
            return []
        policy = self.settings.run_dir / "audit-policy.yaml"
        rules = [
            {
                "level": "Metadata",
                "users": list(self.settings.audit_users),
                "omitStages": ["RequestReceived"],
            },
            {"level": "None"},
        ]
        policy.write_text(
            yaml.safe_dump({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": rules})
        )
        return [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.settings.log_dir / 'audit.log'}",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",
        ]

    def client_kubeconfig(self, stem: str, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for another API user (certificate made on first use)."""
        issue_client(self.pki, stem, user, groups)
        return write_kubeconfig(
            self.settings.run_dir / f"{stem}.kubeconfig", self.api_url, self.pki, stem
        )

    def _admin_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.cert("admin")), str(self.pki.key("admin")))
        return context

    def _apiserver_ready(self) -> bool:
        return _https_ok(f"{self.api_url}/readyz", self._admin_context())

    def _healthz(self, port: int) -> Callable[[], bool]:
        context = _insecure_context()
        return lambda: _https_ok(f"https://{HOST}:{port}/healthz", context)

    def _delegated(self, client: str) -> list[str]:
        kubeconfig = self.settings.run_dir / f"{client}.kubeconfig"
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
        ]

    def _controller_manager_argv(self, binary_path: str) -> list[str]:
        pki = self.pki
        return [
            binary_path,
            *self._delegated("controller-manager"),
            f"--bind-address={HOST}",
            f"--secure-port={self.settings.ports.controller_manager}",
            f"--cert-dir={self.settings.state_dir / 'controller-manager-certs'}",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki.sa_key}",
            f"--root-ca-file={pki.ca_cert}",
            f"--cluster-signing-cert-file={pki.ca_cert}",
            f"--cluster-signing-key-file={pki.ca_key}",
            "--allocate-node-cidrs=false",
            "--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle",
            "--v=1",
        ]

    def _scheduler_argv(self, binary_path: str) -> list[str]:
        return [
            binary_path,
            *self._delegated("scheduler"),
            f"--bind-address={HOST}",
            f"--secure-port={self.settings.ports.scheduler}",
            f"--cert-dir={self.settings.state_dir / 'scheduler-certs'}",
            "--leader-elect=false",
            "--v=1",
        ]

    def _kwok_argv(self, kwok: str) -> list[str]:
        config = self.settings.run_dir / "kwok-stages.yaml"
        config.write_text(
            yaml.safe_dump_all(kwok_stages(self.settings.runner_selector), sort_keys=False)
        )
        port = self.settings.ports.kwok
        return [
            kwok,
            f"--kubeconfig={self.settings.run_dir / 'kwok.kubeconfig'}",
            f"--config={config}",
            "--manage-nodes-with-label-selector=type=kwok",
            f"--node-ip={topology.NODE_IP}",
            f"--node-port={port}",
            f"--server-address={HOST}:{port}",
            f"--cidr={self.plan.node_cidr(0)}",
            f"--tls-cert-file={self.pki.cert('kwok-serving')}",
            f"--tls-private-key-file={self.pki.key('kwok-serving')}",
            "--node-lease-duration-seconds=40",
            "--enable-crds=Exec,Logs,PortForward",
        ]

    def _runner_argv(self) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "podlab.localstack.kube.runner",
            f"--kubeconfig={self.settings.run_dir / 'runner.kubeconfig'}",
            f"--state-dir={self.settings.state_dir / 'runner'}",
            f"--api-server={HOST}:{self.settings.ports.apiserver}",
            f"--ready-file={self.settings.run_dir / 'pod-runner.ready'}",
            f"--address-plan={self.plan.index}",
        ]
        for key, values in self.settings.runner_selector:
            argv.append(f"--select={key}={','.join(values)}" if values else f"--select={key}")
        (self.settings.run_dir / "pod-runner.ready").unlink(missing_ok=True)
        return argv

    def _runner_ready(self) -> bool:
        return (self.settings.run_dir / "pod-runner.ready").exists()

    # -- objects ----------------------------------------------------------------------------------
    def kubectl(self, *args: str, input_text: str | None = None, check: bool = True) -> str:
        """Run the built kubectl against the bed as the admin; stdout, or KubeError on failure."""
        proc = subprocess.run(
            [binary(self.settings.bin_dir, "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input_text,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and proc.returncode != 0:
            raise KubeError(
                f"kubectl {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc.stdout

    def apply(self, *objects: dict[str, Any]) -> None:
        """Server-side apply, as the platform's own tools would (`podlab-kube` field manager)."""
        text = yaml.safe_dump_all(list(objects), sort_keys=False)
        self.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=podlab-kube",
            "-f",
            "-",
            input_text=text,
        )

    def _bootstrap(self) -> None:
        crds = sorted((self.settings.bin_dir.parent / "kwok-crds").glob("*.yaml"))
        if not crds:
            raise KubeError(f"kwok's CRDs are missing (tools/kwok-crds): {BUILD_HINT}")
        self.apply(*(yaml.safe_load(p.read_text()) for p in crds))
        self.kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            *(f"crd/{yaml.safe_load(p.read_text())['metadata']['name']}" for p in crds),
        )
        self.apply(topology.storage_class())
        # Nodes are created with their status (capacity, allocatable), as a kubelet creates its
        # node; kwok then keeps them Ready. An existing node (warm start) is left as it is.
        existing = set(self.kubectl("get", "nodes", "-o", "name").split())
        missing = [
            node.manifest(self.plan.node_cidr(position))
            for position, node in enumerate(topology.NODES)
            if f"node/{node.name}" not in existing
        ]
        if missing:
            self.kubectl("create", "-f", "-", input_text=yaml.safe_dump_all(missing))

    def _wait_usable(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for component, process in self.processes.items():
                if not process.running:
                    raise KubeError(f"{component} exited: see {process.log_path}")
            nodes = json.loads(self.kubectl("get", "nodes", "-o", "json"))["items"]
            ready = [
                n["metadata"]["name"]
                for n in nodes
                if any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in n.get("status", {}).get("conditions", [])
                )
            ]
            account = self.kubectl(
                "get",
                "serviceaccount",
                "default",
                "-n",
                "default",
                "--ignore-not-found",
                "-o",
                "name",
            )
            if len(ready) == len(topology.NODES) and account.strip():
                return
            last = (
                f"{len(ready)}/{len(topology.NODES)} nodes Ready, "
                f"default ServiceAccount: {bool(account.strip())}"
            )
            time.sleep(0.5)
        raise KubeError(
            f"the cluster is not usable after {timeout:.0f}s ({last}); "
            f"see the logs in {self.settings.log_dir}"
        )

    # -- down and status --------------------------------------------------------------------------
    def _release_plan(self) -> None:
        if self._plan_lock is not None:
            self._plan_lock.close()
            self._plan_lock = None

    def down(self, quiet: bool = False) -> None:
        """Stop every component (ours, or those a pid file names); data is kept."""
        self._release_plan()
        stopped = 0
        for component in reversed(COMPONENTS):
            process = self.processes.pop(component, None)
            if process is not None and process.running:
                process.stop()
                stopped += 1
                continue
            pid_file = self.settings.pid_file(component)
            pid = read_pid_file(pid_file) if pid_file else None
            if pid is not None and stop_process_group(pid, timeout=15):
                stopped += 1
            if pid_file is not None:
                pid_file.unlink(missing_ok=True)
        if not quiet:
            self._say(
                f"stopped {stopped} components; data kept in {self.settings.state_dir}"
                if stopped
                else "the Kubernetes test bed is not running"
            )

    def status(self) -> bool:
        """Print each component with its pid and health; True when all are healthy."""
        self.pki = Pki(self.settings.state_dir / "pki")
        ports = self.settings.ports
        probes: dict[str, Callable[[], bool]] = {
            "etcd": self._etcd_ready,
            "kube-apiserver": self._apiserver_ready,
            "kube-controller-manager": self._healthz(ports.controller_manager),
            "kube-scheduler": self._healthz(ports.scheduler),
            "kwok": self._healthz(ports.kwok),
            "pod-runner": self._runner_ready,
        }
        healthy = True
        self._say(f"{'component':<24} {'pid':>8}  health")
        for component in COMPONENTS:
            pid_file = self.settings.pid_file(component)
            pid = read_pid_file(pid_file) if pid_file else None
            if pid is None or not pid_alive(pid):
                health = "stopped" if pid is None else "dead (stale pid file)"
            else:
                try:
                    health = "ok" if probes[component]() else "unhealthy"
                except (OSError, ssl.SSLError):
                    health = "unhealthy"
            healthy = healthy and health == "ok"
            self._say(f"{component:<24} {pid or '-':>8}  {health}")
        if healthy:
            self._say(f"export KUBECONFIG={self.kubeconfig}")
        return healthy


@contextlib.contextmanager
def running_cluster(settings: KubeSettings, out: TextIO = sys.stdout) -> Iterator[KubeCluster]:
    cluster = KubeCluster(settings, out=out).up()
    try:
        yield cluster
    finally:
        cluster.down(quiet=True)
