"""The pod runner: the kubelet of the test bed for the pods that must really run.

kwok marks pods Running but runs nothing. This process runs the pods labelled as `--select`
says (default `podlab.io/pod-runner=local`; kwok's stages leave exactly those alone) as local
processes (podrun.py), reports their status, phase and events as a kubelet would, gives them
IPs from 127.1.240.0/20, wires kwok's exec/logs/port-forward to them through kwok's Exec, Logs
and PortForward objects, deletes them when asked (SIGTERM, grace period, SIGKILL), and
provisions the `podlab-local` volumes (provisioner.py).

    python -m podlab.localstack.kube.runner --kubeconfig K --state-dir D --api-server H:P ...
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ipaddress
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from podlab.localstack.kube import topology
from podlab.localstack.kube.kubeapi import ApiError, KubeApi, Obj, Reflector
from podlab.localstack.kube.podrun import PodRun, RuntimeSettings, now
from podlab.localstack.kube.provisioner import Provisioner
from podlab.localstack.kube.services import ServiceProxy, hosts_file
from podlab.localstack.kube.volumes import Kubelet
from podlab.localstack.paths import REPO_ROOT, TOOLS_BIN

log = logging.getLogger("podlab.pod-runner")
KWOK_GROUP = "/apis/kwok.x-k8s.io/v1alpha1"
MAX_GRACE = 30.0
"""A deleted pod's containers get its grace period, at most this (a test bed, not a fleet)."""


def selector_query(key: str, values: tuple[str, ...]) -> str:
    return f"{key} in ({','.join(values)})" if values else key


class IpPool:
    """Pod IPs from the runner's range; a pod keeps its IP across a runner restart.

    A released IP is handed out again only after every other one: a server that closed its
    connections leaves them in TIME_WAIT for a minute, and a new pod at the same address
    could not bind its port (Python's socketserver does not set SO_REUSEADDR)."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr)
        self.fresh: Iterator[ipaddress.IPv4Address | ipaddress.IPv6Address] = self.network.hosts()
        self.used: set[str] = set()
        self.released: collections.deque[str] = collections.deque()

    def take(self, wanted: str | None = None) -> str:
        if wanted and wanted not in self.used and ipaddress.ip_address(wanted) in self.network:
            self.used.add(wanted)
            return wanted
        for candidate in self.fresh:
            if str(candidate) not in self.used:
                self.used.add(str(candidate))
                return str(candidate)
        while self.released:
            ip = self.released.popleft()
            if ip not in self.used:
                self.used.add(ip)
                return ip
        raise RuntimeError(f"no pod IP left in {self.network}")

    def give_back(self, ip: str) -> None:
        if ip in self.used:
            self.used.discard(ip)
            self.released.append(ip)


class PodRunner:
    def __init__(
        self,
        api: KubeApi,
        state_dir: Path,
        selector: list[tuple[str, tuple[str, ...]]],
        settings: RuntimeSettings,
        api_server: tuple[str, int],
        plan: topology.AddressPlan,
    ) -> None:
        self.api = api
        self.state_dir = state_dir
        self.settings = settings
        settings.events = self.event
        self.kubelet = Kubelet(api)
        self.provisioner = Provisioner(api, state_dir / "volumes")
        self.wake = threading.Event()
        self.pods = [
            Reflector(api, "/api/v1/pods", self.wake.set, label_selector=selector_query(k, v))
            for k, v in selector
        ]
        self.claims = Reflector(api, "/api/v1/persistentvolumeclaims", self.wake.set)
        self.volumes = Reflector(api, "/api/v1/persistentvolumes", self.wake.set)
        self.services = Reflector(api, "/api/v1/services", self.wake.set)
        self.proxy = ServiceProxy(self._all_pods, api_server)
        self.routed: list[str] = []
        self.runs: dict[str, PodRun] = {}
        self.sent: dict[str, Obj] = {}
        self.ips = IpPool(plan.runner_cidr)
        self.mount_points: dict[Path, int] = {}
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    # -- main loop ------------------------------------------------------------------------------
    def run(self, ready_file: Path | None) -> None:
        reflectors = [*self.pods, self.claims, self.volumes, self.services]
        for reflector in reflectors:
            reflector.start()
        for reflector in reflectors:
            if not reflector.synced.wait(60):
                raise SystemExit(f"pod runner: could not list {reflector.path} within 60s")
        if ready_file is not None:
            ready_file.write_text(f"{os.getpid()}\n")
        log.info("pod runner ready")
        while not self.stopping.is_set():
            self.wake.wait(0.5)
            self.wake.clear()
            try:
                self.reconcile()
            except Exception:  # one bad object must not stop every pod
                log.exception("reconcile failed")
        self.shutdown()

    def _all_pods(self) -> list[Obj]:
        return list({p["metadata"]["uid"]: p for r in self.pods for p in r.snapshot()}.values())

    def reconcile(self) -> None:
        self.provisioner.reconcile(self.claims.snapshot(), self.volumes.snapshot())
        services = self.services.snapshot()
        versions = sorted(s["metadata"]["resourceVersion"] for s in services)
        if versions != self.routed:
            self.proxy.update(services)
            self.routed = versions
        pods = {p["metadata"]["uid"]: p for p in self._all_pods()}
        for pod in pods.values():
            self.sync(pod)
        for uid in [u for u in list(self.runs) if u not in pods]:
            run = self.runs[uid]
            if not run.terminating:
                log.info("%s/%s is gone: stopping its containers", run.namespace, run.name)
                threading.Thread(target=self._finish, args=(run, None), daemon=True).start()

    def sync(self, pod: Obj) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        uid = meta["uid"]
        run = self.runs.get(uid)
        if meta.get("deletionTimestamp"):
            if run is None:
                self._delete_now(pod)
            elif not run.terminating:
                grace = float(
                    meta.get(
                        "deletionGracePeriodSeconds", spec.get("terminationGracePeriodSeconds", 30)
                    )
                )
                run.terminating = True
                threading.Thread(
                    target=self._finish, args=(run, pod, min(grace, MAX_GRACE)), daemon=True
                ).start()
            return
        if not spec.get("nodeName"):
            return  # not scheduled yet
        if run is None:
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                return  # ended before this runner started: nothing to run again
            ip = (
                topology.NODE_IP
                if spec.get("hostNetwork")
                else self.ips.take(pod.get("status", {}).get("podIP"))
            )
            folder = self.state_dir / "pods" / f"{meta['namespace']}_{meta['name']}_{uid}"
            run = self.runs[uid] = PodRun(pod, ip, folder, self.kubelet, self.settings)
            log.info("running %s/%s at %s", meta["namespace"], meta["name"], ip)
        run.pod = pod
        if not spec.get("hostNetwork"):
            run.write_hosts(hosts_file(pod, run.ip, self.services.snapshot(), self._all_pods()))
        pids = [c.proc.pid if c.proc else None for c in [*run.init, *run.main]]
        run.step(self._claim_mount_point)
        if pids != [c.proc.pid if c.proc else None for c in [*run.init, *run.main]]:
            self._publish_debugging(run)
        self._report(run, pod)

    def _report(self, run: PodRun, pod: Obj) -> None:
        status = run.status(pod.get("status") or {})
        comparable = {k: v for k, v in status.items() if k != "conditions"}
        comparable["conditions"] = sorted((c["type"], c["status"]) for c in status["conditions"])
        if self.sent.get(run.uid) == comparable:
            return
        path = f"/api/v1/namespaces/{run.namespace}/pods/{run.name}/status"
        try:
            self.api.merge_patch(path, {"metadata": {"uid": run.uid}, "status": status})
            self.sent[run.uid] = comparable
        except ApiError as err:
            log.warning("status of %s/%s: %s", run.namespace, run.name, err)

    # -- ending ---------------------------------------------------------------------------------
    def _finish(self, run: PodRun, pod: Obj | None, grace: float = 5.0) -> None:
        """Stop the containers; a pod being deleted is then removed for good (grace 0)."""
        run.stop(grace)
        if pod is not None:
            self._report(run, pod)
            self._delete_now(pod)
        with self.lock:
            self.runs.pop(run.uid, None)
            self.sent.pop(run.uid, None)
            if run.ip != topology.NODE_IP:
                self.ips.give_back(run.ip)
            for path in run.host_dirs:
                self.mount_points[path] = self.mount_points.get(path, 1) - 1
                if self.mount_points[path] <= 0:
                    self.mount_points.pop(path, None)
                    with contextlib.suppress(OSError):  # only if empty: made for the mount
                        path.rmdir()

    def _delete_now(self, pod: Obj) -> None:
        meta = pod["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": meta["uid"]},
        }
        try:
            self.api.delete(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}", body)
        except ApiError as err:
            if err.status != 409:  # 409: a newer pod of that name (the precondition held)
                log.warning("deleting %s/%s: %s", meta["namespace"], meta["name"], err)

    def _claim_mount_point(self, path: Path) -> None:
        with self.lock:
            self.mount_points[path] = self.mount_points.get(path, 0) + 1

    def shutdown(self) -> None:
        """The runner stops (kube-down): containers stop too; the pods stay in the API and are
        started again by the next runner, as a rebooted node's kubelet does."""
        runs = list(self.runs.values())
        threads = [threading.Thread(target=r.stop, args=(5.0,)) for r in runs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.proxy.close()

    # -- kwok's exec, logs and port-forward -------------------------------------------------------
    def _publish_debugging(self, run: PodRun) -> None:
        """One Exec, Logs and PortForward object per pod (owned by it, so deleted with it)."""
        owner = [{"apiVersion": "v1", "kind": "Pod", "name": run.name, "uid": run.uid}]
        containers = [*run.init, *run.main]
        execs = [
            {
                "containers": [c.name],
                "local": {
                    "workDir": "/",
                    "envs": [{"name": k, "value": v} for k, v in sorted(run.exec_env(c).items())],
                },
            }
            for c in containers
            if c.proc is not None
        ]
        logs = [
            {
                "containers": [c.name],
                "logsFile": str(run.log_path(c)),
                "follow": True,
                "previousLogsFile": str(run.log_path(c).with_suffix(".previous.log")),
            }
            for c in containers
        ]
        ports = sorted(
            {int(p["containerPort"]) for c in containers for p in c.spec.get("ports") or []}
        )
        forwards = [{"ports": [p], "target": {"port": p, "address": run.ip}} for p in ports]
        for kind, plural, spec in (
            ("Exec", "execs", {"execs": execs}),
            ("Logs", "logs", {"logs": logs}),
            ("PortForward", "portforwards", {"forwards": forwards}),
        ):
            if not next(iter(spec.values())):
                continue
            path = f"{KWOK_GROUP}/namespaces/{run.namespace}/{plural}"
            body = {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": kind,
                "metadata": {
                    "name": run.name,
                    "namespace": run.namespace,
                    "ownerReferences": owner,
                },
                "spec": spec,
            }
            try:
                try:
                    self.api.create(path, body)
                except ApiError as err:
                    if err.status != 409:
                        raise
                    self.api.merge_patch(
                        f"{path}/{run.name}", {"metadata": {"ownerReferences": owner}, "spec": spec}
                    )
            except ApiError as err:
                log.warning("kwok %s for %s/%s: %s", kind, run.namespace, run.name, err)

    # -- events ---------------------------------------------------------------------------------
    def event(self, pod: Obj, kind: str, reason: str, message: str, container: str | None) -> None:
        meta = pod["metadata"]
        involved: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
        }
        if container:
            involved["fieldPath"] = f"spec.containers{{{container}}}"
        node = pod["spec"].get("nodeName", "")
        stamp = now()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": "kubelet", "host": node},
            "reportingComponent": "kubelet",
            "reportingInstance": node,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            self.api.create(f"/api/v1/namespaces/{meta['namespace']}/events", body)
        except ApiError as err:
            log.debug("event %s for %s: %s", reason, meta["name"], err)


def parse_selector(values: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """`--select key=v1,v2` or `--select key` (present) into (key, values)."""
    parsed = []
    for value in values:
        key, _, wanted = value.partition("=")
        parsed.append((key, tuple(v for v in wanted.split(",") if v)))
    return parsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="podlab-pod-runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True, type=Path)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument(
        "--api-server", required=True, help="HOST:PORT the pods use to reach the API"
    )
    parser.add_argument(
        "--select",
        action="append",
        default=[],
        help=f"label[=v1,v2] of pods to run (default {topology.RUNNER_LABEL}=local)",
    )
    parser.add_argument("--ready-file", type=Path)
    parser.add_argument("--address-plan", type=int, default=0, help="topology.AddressPlan index")
    parser.add_argument("--shim", type=Path, default=REPO_ROOT / "tools" / "lib" / "podshim.so")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not args.shim.exists():
        print(f"pod runner: {args.shim} is missing: run `make setup`", file=sys.stderr)
        return 1
    plan = topology.AddressPlan(args.address_plan)
    held = plan.hold()  # for the runner's life: no other bed takes these addresses
    if held is None:
        print(f"pod runner: another test bed holds {plan.lock_path}", file=sys.stderr)
        return 1
    host, _, port = args.api_server.rpartition(":")
    api_server = (host, int(port))
    path = os.pathsep.join(
        [
            str(Path(sys.executable).parent),
            str(TOOLS_BIN),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]
    )
    # Pods reach the API server as in a cluster: the `kubernetes` Service's IP, port 443.
    settings = RuntimeSettings(
        shim=args.shim.resolve(),
        api_host=plan.service_ip(),
        api_port=443,
        path=path,
        releases=args.state_dir / "releases",
    )
    selector = parse_selector(args.select) or list(topology.RUNNER_SELECTOR)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    runner = PodRunner(
        KubeApi(args.kubeconfig), args.state_dir, selector, settings, api_server, plan
    )
    signal.signal(signal.SIGTERM, lambda *_: runner.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: runner.stopping.set())
    runner.run(args.ready_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
