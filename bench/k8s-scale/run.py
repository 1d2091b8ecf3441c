"""A Monday morning: N users spawn their servers in waves against a real Kubernetes API
server, through one hub, podlab's spawner vs stock KubeSpawner in the same run.

The test bed (podlab.localstack.kube: kube-apiserver 1.34, etcd, controller-manager,
scheduler, kwok) gets enough kwok nodes for every pod; user pods are played by kwok (Running
at once, nothing runs) and each spawner's `get_pod_url` points JupyterHub's readiness check at
a trivial HTTP responder. Home claims bind for real (the bed's provisioner, WaitForFirstConsumer).
Both hubs run as local processes with a client certificate of their own; the API server's audit
log counts each hub's requests.

- podlab: PodlabKubeSpawner as the chart configures it (configure_kubespawner): per-user
  namespace, the ensure step (ServiceAccount, Role, RoleBinding, quota, limits, network
  policy), home claim, profiles;
- stock: KubeSpawner with the same user namespaces and home claims, no ensure step, no
  profiles (what z2jh's defaults with user namespaces do).

    .venv/bin/python bench/k8s-scale/run.py [--users 1000] [--wave 100] [--docs-plot]

Prints a table per side and the ratio podlab/stock; writes bench/results/k8s-scale.json (and
with --docs-plot docs/img/k8s-scale.png).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.server
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from podlab.localstack.jupyterhub import JupyterHubServer
from podlab.localstack.kube import topology
from podlab.localstack.kube.cluster import KubeCluster, KubeSettings, Ports

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
USERS_PER_NODE = 100
PROFILE = {
    "slug": "cpu-small",
    "display_name": "CPU small",
    "default": True,
    "cpu": {"guarantee": 0.5, "limit": 2},
    "memory": {"guarantee": "1Gi", "limit": "4Gi"},
}
COMMON = """
import socket
c.JupyterHub.concurrent_spawn_limit = {wave}
c.JupyterHub.active_server_limit = 0
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0}}
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 120
c.KubeSpawner.namespace = "podlab"
c.KubeSpawner.image = "podlab/singleuser:bench"
c.KubeSpawner.k8s_api_threadpool_workers = 16
RESPONDER = "http://127.0.0.1:{responder}"
# kwok runs nothing: JupyterHub's readiness check goes to the responder (KubeSpawner's hook).
c.KubeSpawner.get_pod_url = lambda spawner, pod: RESPONDER
"""
PODLAB_CONFIG = """
from podlab.config import load_config
from podlab.kubespawner_config import configure_kubespawner

configure_kubespawner(c, load_config({config!r}))
c.PodlabKubeSpawner.platform_namespace = "podlab"
c.PodlabKubeSpawner.get_pod_url = lambda spawner, pod: RESPONDER
"""
STOCK_CONFIG = """
c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.KubeSpawner.enable_user_namespaces = True
c.KubeSpawner.user_namespace_template = "stock-{username}"
c.KubeSpawner.storage_pvc_ensure = True
c.KubeSpawner.pvc_name_template = "home"
c.KubeSpawner.storage_capacity = "20Gi"
c.KubeSpawner.volumes = [{"name": "home", "persistentVolumeClaim": {"claimName": "home"}}]
c.KubeSpawner.volume_mounts = [{"name": "home", "mountPath": "/home/jovyan"}]
c.KubeSpawner.cpu_guarantee = 0.5
c.KubeSpawner.cpu_limit = 2
c.KubeSpawner.mem_guarantee = "1G"
c.KubeSpawner.mem_limit = "4G"
"""


class Responder(http.server.ThreadingHTTPServer):
    """Answers every request with 200: the user servers kwok does not run."""

    daemon_threads = True

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b'{"version": "bench"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def add_nodes(cluster: KubeCluster, count: int) -> None:
    """kwok nodes for the users' pods (8 cores, 32 Gi each hold 16 cpu-small pods by request;
    these are larger so a few hold everyone)."""
    nodes = []
    for index in range(count):
        spec = topology.NodeSpec(
            f"bench-{index}",
            "cpu",
            f"local-{'ab'[index % 2]}",
            "m5.24xlarge",
            "128",
            "512Gi",
            pods=USERS_PER_NODE + 10,
        )
        nodes.append(spec.manifest(cluster.plan.node_cidr(len(topology.NODES) + index)))
    cluster.kubectl("create", "-f", "-", input_text=yaml.safe_dump_all(nodes))


class HubUnderTest:
    def __init__(
        self, name: str, cluster: KubeCluster, work: Path, config: str, wave: int, responder: int
    ) -> None:
        self.name = name
        kubeconfig = cluster.client_kubeconfig(
            f"bench-{name}", f"bench-{name}", ("system:masters",)
        )
        self.user = f"bench-{name}"
        self.hub = JupyterHubServer(
            work / name,
            RESULTS / "k8s-scale-logs" / name,
            spawner_class="kubespawner.KubeSpawner",
            extra_config=COMMON.format(wave=wave, responder=responder) + config,
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            start_timeout=120,
        )

    def spawn(self, user: str) -> tuple[float, str | None]:
        """Seconds from the start request to a ready server, or the error."""
        began = time.monotonic()
        self.hub.create_user(user)
        options = {"profile": "cpu-small"} if self.name == "podlab" else {}
        status, reply = self.hub.api("POST", f"/users/{user}/server", body=options, timeout=120)
        if status not in (201, 202):
            return time.monotonic() - began, f"{status} {reply}"
        while time.monotonic() - began < 300:
            _, model = self.hub.api("GET", f"/users/{user}", timeout=60)
            server = (model.get("servers") or {}).get("")
            if server and server.get("ready"):
                return time.monotonic() - began, None
            if not server:
                return time.monotonic() - began, "the spawn failed (no server)"
            time.sleep(0.25)
        return time.monotonic() - began, "not ready after 300 s"


def cpu_and_rss(pid: int) -> tuple[float, int]:
    """CPU seconds and resident memory of the hub process (not its proxy)."""
    import psutil  # type: ignore[import-untyped]

    process = psutil.Process(pid)
    times = process.cpu_times()
    return times.user + times.system, int(process.memory_info().rss)


def count_requests(audit_log: Path, user: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    with open(audit_log) as lines:
        for line in lines:
            event = json.loads(line)
            if (
                event.get("user", {}).get("username") != user
                or event.get("stage") != "ResponseComplete"
            ):
                continue
            ref = event.get("objectRef", {})
            key = f"{event['verb']} {ref.get('resource', '?')}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def run_side(hub: HubUnderTest, users: int, wave: int, audit_log: Path) -> dict[str, Any]:
    hub.hub.start()
    pid = hub.hub._process.pid if hub.hub._process else None
    assert pid is not None
    cpu_before, _ = cpu_and_rss(pid)
    peak_rss = 0
    times: list[float] = []
    failures: list[str] = []
    before = count_requests(audit_log, hub.user) if audit_log.exists() else {}
    began = time.monotonic()
    names = [f"{hub.name}{i:04d}" for i in range(users)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=wave) as pool:
        for start in range(0, users, wave):
            batch = names[start : start + wave]
            for seconds, error in pool.map(hub.spawn, batch):
                times.append(seconds)
                if error:
                    failures.append(error)
            peak_rss = max(peak_rss, cpu_and_rss(pid)[1])
            print(
                f"  {hub.name:<7} wave {start // wave + 1}: {len(times)} spawned, "
                f"p50 {statistics.median(times):.2f}s, {len(failures)} failed",
                flush=True,
            )
    elapsed = time.monotonic() - began
    cpu_after, rss = cpu_and_rss(pid)
    time.sleep(2)
    after = count_requests(audit_log, hub.user)
    requests = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    hub.hub.stop()
    return {
        "users": users,
        "wave": wave,
        "seconds": elapsed,
        "p50": percentile(times, 50),
        "p95": percentile(times, 95),
        "max": max(times),
        "failures": len(failures),
        "first_failures": failures[:5],
        "hub_cpu_seconds": cpu_after - cpu_before,
        "hub_peak_rss_mib": max(peak_rss, rss) / 2**20,
        "api_requests_per_spawn": sum(requests.values()) / users,
        "api_requests": dict(sorted(requests.items(), key=lambda kv: -kv[1])),
    }


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    sides = ["stock", "podlab"]
    axes[0].bar(sides, [results[s]["p50"] for s in sides], label="p50")
    axes[0].bar(
        sides,
        [results[s]["p95"] - results[s]["p50"] for s in sides],
        bottom=[results[s]["p50"] for s in sides],
        label="p95",
        alpha=0.5,
    )
    axes[0].set_ylabel("spawn: request → ready (s)")
    axes[0].legend()
    axes[1].bar(sides, [results[s]["api_requests_per_spawn"] for s in sides])
    axes[1].set_ylabel("API requests per spawn")
    shape = results["podlab"]
    fig.suptitle(f"{shape['users']} users per side, waves of {shape['wave']}, one hub")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--wave", type=int, default=100)
    parser.add_argument("--docs-plot", action="store_true")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="podlab-k8s-scale-"))
    settings = KubeSettings(
        state_dir=work / "kube",
        ports=Ports.free(),
        pid_files=False,
        logs=RESULTS / "k8s-scale-logs",
        runner_selector=((topology.RUNNER_LABEL, ("local",)),),  # user pods: kwok
        audit_users=("bench-podlab", "bench-stock"),
    )
    config_path = work / "podlab.yaml"
    config_path.write_text(
        yaml.safe_dump({"podlab": {"profiles": [PROFILE], "culling": {"enabled": False}}})
    )
    responder = Responder()
    cluster = KubeCluster(settings, out=io.StringIO()).up()
    results: dict[str, Any] = {
        "machine": f"{platform.node()}, {os.cpu_count()} cores",
        "python": sys.version.split()[0],
    }
    try:
        add_nodes(cluster, 2 * -(-args.users // USERS_PER_NODE))
        cluster.kubectl("create", "namespace", "podlab")
        audit_log = settings.log_dir / "audit.log"
        port = responder.server_address[1]
        for name, config in (
            ("stock", STOCK_CONFIG),
            ("podlab", PODLAB_CONFIG.format(config=str(config_path))),
        ):
            print(f"{name}: {args.users} users in waves of {args.wave}", flush=True)
            hub = HubUnderTest(name, cluster, work, config, args.wave, port)
            results[name] = run_side(hub, args.users, args.wave, audit_log)
    finally:
        cluster.down(quiet=True)
        responder.shutdown()
    podlab, stock = results["podlab"], results["stock"]
    results["ratio_p50"] = podlab["p50"] / stock["p50"]
    results["ratio_p95"] = podlab["p95"] / stock["p95"]
    (RESULTS / "k8s-scale.json").write_text(json.dumps(results, indent=2))
    print(f"\n{'':<28}{'stock':>12}{'podlab':>12}")
    for key, label in (
        ("p50", "spawn p50 (s)"),
        ("p95", "spawn p95 (s)"),
        ("max", "spawn max (s)"),
        ("failures", "failures"),
        ("api_requests_per_spawn", "API requests / spawn"),
        ("hub_cpu_seconds", "hub CPU (s)"),
        ("hub_peak_rss_mib", "hub peak RSS (MiB)"),
        ("seconds", "wall time (s)"),
    ):
        print(f"{label:<28}{stock[key]:>12.2f}{podlab[key]:>12.2f}")
    print(f"ratio podlab/stock: p50 {results['ratio_p50']:.2f}, p95 {results['ratio_p95']:.2f}")
    print(f"machine: {results['machine']}")
    if args.docs_plot:
        plot(results, ROOT / "docs" / "img" / "k8s-scale.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
