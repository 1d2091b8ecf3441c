"""podlab's MLflow server vs stock `mlflow server`: same PostgreSQL, S3, machine and run.

Measures, for each server with its default settings:
  * metrics/s through `log_batch` (1000 metrics per call), runs/s (create + terminate);
  * p50/p95 latency of `search_runs` (filter + order, 100 results) over 10,000 runs;
  * per-request authentication overhead (p50 of a cheap GET minus the unauthenticated stock
    server's p50), podlab's hub-token check (cached) vs MLflow's basic-auth app (with its cache);
  * load time of a ~200 MB model through the proxied artifact path vs a direct S3 download;
  * memory (RSS and PSS) of each server's whole process tree, at rest after the workload.

Usage: `.venv/bin/python bench/mlflow/run.py [--quick] [--docs-plot]`. Prints a table; writes
bench/results/mlflow-<time>.json and bench/results/mlflow.png, and docs/img/mlflow-bench.png
only with --docs-plot (so a smoke run never replaces the figure the docs describe).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from podlab.localstack.jupyterhub import JupyterHubServer  # noqa: E402
from podlab.localstack.paths import new_work_dir  # noqa: E402
from podlab.localstack.postgres import PostgresServer  # noqa: E402
from podlab.localstack.process import (  # noqa: E402
    ComponentError,
    ManagedProcess,
    free_port,
    start_http_server,
)
from podlab.localstack.s3 import S3Server  # noqa: E402
from tests.support.podlab_mlflow import PodlabMlflowServer, hub_service_config  # noqa: E402

RESULTS = REPO / "bench" / "results"
DOC_PLOT = REPO / "docs" / "img" / "mlflow-bench.png"
ADMIN_PASSWORD = "podlab-bench-" + secrets.token_hex(8)


@dataclass
class Target:
    """One server under test and how a client authenticates to it."""

    name: str
    url: str
    pid: Callable[[], int | None]
    auth_env: dict[str, str]

    def headers(self) -> dict[str, str]:
        if "MLFLOW_TRACKING_TOKEN" in self.auth_env:
            return {"Authorization": f"Bearer {self.auth_env['MLFLOW_TRACKING_TOKEN']}"}
        if "MLFLOW_TRACKING_PASSWORD" in self.auth_env:
            import base64

            raw = f"{self.auth_env['MLFLOW_TRACKING_USERNAME']}:{ADMIN_PASSWORD}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return {}


@contextlib.contextmanager
def client_for(target: Target) -> Iterator[Any]:
    from mlflow import MlflowClient

    keys = (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_TOKEN",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
    )
    saved = {k: os.environ.pop(k, None) for k in keys}
    os.environ["MLFLOW_TRACKING_URI"] = target.url
    os.environ.update(target.auth_env)
    try:
        yield MlflowClient(tracking_uri=target.url, registry_uri=target.url)
    finally:
        for key in keys:
            os.environ.pop(key, None)
            if saved[key] is not None:
                os.environ[key] = str(saved[key])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# -- workloads ---------------------------------------------------------------------------------
# Every workload alternates between the servers (request by request, or in short rounds), so
# both see the same moment of a shared machine. Measuring one server after the other made the
# ratios follow the load of the moment: the first version of this benchmark reported podlab's
# search_runs at 1.4x stock in one run and 0.5x in another, while the paired difference of
# the same requests is within a millisecond (docs/benchmarks.md).
ROUNDS = 4


def bench_log_batch(targets: list[Target], batches: int) -> dict[str, float]:
    """metrics/s through log_batch (1000 metrics a call), the servers taking turns by round."""
    from mlflow.entities import Metric

    runs: dict[str, tuple[Any, str]] = {}
    for target in targets:
        with client_for(target) as client:
            exp = client.create_experiment(f"log-batch-{secrets.token_hex(4)}")
            runs[target.name] = (client, client.create_run(exp).info.run_id)
    elapsed = dict.fromkeys(runs, 0.0)
    per_round = max(1, batches // ROUNDS)
    for r in range(ROUNDS):
        for target in targets if r % 2 == 0 else reversed(targets):
            with client_for(target) as client:
                run_id = runs[target.name][1]
                start = time.perf_counter()
                for b in range(per_round):
                    step = (r * per_round + b) * 100
                    now = int(time.time() * 1000)
                    client.log_batch(
                        run_id,
                        metrics=[
                            Metric(f"m{i % 10}", float(i), now, step + i // 10) for i in range(1000)
                        ],
                    )
                elapsed[target.name] += time.perf_counter() - start
    return {name: ROUNDS * per_round * 1000 / seconds for name, seconds in elapsed.items()}


def bench_runs(targets: list[Target], runs: int) -> dict[str, float]:
    """runs/s (create + terminate), the servers taking turns by round."""
    experiments = {}
    for target in targets:
        with client_for(target) as client:
            experiments[target.name] = client.create_experiment(f"runs-{secrets.token_hex(4)}")
    elapsed = dict.fromkeys(experiments, 0.0)
    per_round = max(1, runs // ROUNDS)
    for r in range(ROUNDS):
        for target in targets if r % 2 == 0 else reversed(targets):
            with client_for(target) as client:
                start = time.perf_counter()
                for _ in range(per_round):
                    run_id = client.create_run(experiments[target.name]).info.run_id
                    client.set_terminated(run_id)
                elapsed[target.name] += time.perf_counter() - start
    return {name: ROUNDS * per_round / seconds for name, seconds in elapsed.items()}


SEED_SQL = """
INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status,
                  start_time, end_time, source_version, lifecycle_stage, artifact_uri,
                  experiment_id)
SELECT md5(%(salt)s || i), 'run-' || i, 'LOCAL', '', '', 'alice', 'FINISHED',
       1700000000000 + i, 1700000001000 + i, '', 'active', 'mlflow-artifacts:/seed/' || i,
       %(exp)s
FROM generate_series(1, %(n)s) AS i;
INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)
SELECT 'loss', (i %% 1000) / 1000.0, 1700000000000 + i, 0, false, md5(%(salt)s || i)
FROM generate_series(1, %(n)s) AS i;
INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid)
SELECT 'loss', (i %% 1000) / 1000.0, 1700000000000 + i, 0, false, md5(%(salt)s || i)
FROM generate_series(1, %(n)s) AS i;
INSERT INTO params (key, value, run_uuid)
SELECT 'lr', '0.0' || (i %% 10), md5(%(salt)s || i) FROM generate_series(1, %(n)s) AS i;
INSERT INTO tags (key, value, run_uuid)
SELECT 'mlflow.user', 'alice', md5(%(salt)s || i) FROM generate_series(1, %(n)s) AS i;
ANALYZE;
"""


def seed_runs(pg: PostgresServer, database: str, target: Target, n: int) -> str:
    """n finished runs with a metric, a param and a tag, inserted in one SQL round trip."""
    import psycopg2

    with client_for(target) as client:
        exp = client.create_experiment(f"search-{secrets.token_hex(4)}")
    conn = psycopg2.connect(pg.libpq_dsn(database))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(SEED_SQL, {"exp": int(exp), "n": n, "salt": secrets.token_hex(4)})
    finally:
        conn.close()
    return str(exp)


def bench_search(
    targets: list[Target], experiments: dict[str, str], repeats: int
) -> dict[str, list[float]]:
    """search_runs latency (ms), the servers taking turns request by request."""
    latencies: dict[str, list[float]] = {t.name: [] for t in targets}
    for i in range(repeats + 3):
        for target in targets:
            with client_for(target) as client:
                start = time.perf_counter()
                runs = client.search_runs(
                    [experiments[target.name]],
                    filter_string="metrics.loss < 0.5 and params.lr = '0.05'",
                    order_by=["metrics.loss ASC"],
                    max_results=100,
                )
                elapsed = (time.perf_counter() - start) * 1000
            if len(runs) != 100:
                raise RuntimeError(f"search_runs found {len(runs)} runs, expected 100")
            if i >= 3:  # warm-up
                latencies[target.name].append(elapsed)
    return latencies


def paired_ratio(ours: list[float], theirs: list[float]) -> float:
    """Median of the per-pair ratios: request i of each server ran back to back."""
    return statistics.median(a / b for a, b in zip(ours, theirs, strict=True))


def bench_request_latency(targets: list[Target], requests_n: int) -> dict[str, list[float]]:
    """Latency of a cheap authenticated GET, the targets taking turns request by request.

    Taking turns puts every target under the same momentary machine load, so the per-request
    differences to the unauthenticated stock server measure the authentication layer, not the
    noise of a shared machine.
    """
    import requests

    sessions = {}
    for target in targets:
        session = requests.Session()
        session.headers.update(target.headers())
        sessions[target.name] = session
    latencies: dict[str, list[float]] = {t.name: [] for t in targets}
    try:
        for i in range(requests_n + 20):
            for target in targets:
                start = time.perf_counter()
                reply = sessions[target.name].get(
                    f"{target.url}/api/2.0/mlflow/experiments/get",
                    params={"experiment_id": "0"},
                    timeout=30,
                )
                elapsed = (time.perf_counter() - start) * 1000
                reply.raise_for_status()
                if i >= 20:
                    latencies[target.name].append(elapsed)
    finally:
        for session in sessions.values():
            session.close()
    return latencies


def bench_model_load(target: Target, s3: S3Server, size_mb: int, repeats: int) -> dict[str, float]:
    import mlflow
    import torch

    width = int((size_mb * 1024 * 1024 / 4) ** 0.5)
    model = torch.nn.Sequential(torch.nn.Linear(width, width, bias=False))
    result: dict[str, float] = {}
    with client_for(target) as client:
        mlflow.set_tracking_uri(target.url)
        mlflow.set_experiment(f"big-model-{secrets.token_hex(4)}")
        name = f"big-{secrets.token_hex(4)}"
        start = time.perf_counter()
        with mlflow.start_run():
            mlflow.pytorch.log_model(
                model,
                name="model",
                registered_model_name=name,
                serialization_format="pickle",
                pip_requirements=["torch"],
            )
        result["log_s"] = time.perf_counter() - start
        source = client.get_model_version_download_uri(name, "1")
        # Where the files really are: mlflow-artifacts:/<path> -> s3://bucket/prefix/<path>.
        relative = source.split("mlflow-artifacts:", 1)[1].lstrip("/")
        bucket, prefix = target_bucket(target)
        key_prefix = f"{prefix}/{relative}".strip("/") + "/"
        proxied, direct, loads = [], [], []
        boto = s3.client()
        keys = [
            o["Key"]
            for o in boto.list_objects_v2(Bucket=bucket, Prefix=key_prefix).get("Contents", [])
        ]
        result["size_mb"] = (
            sum(
                o["Size"]
                for o in boto.list_objects_v2(Bucket=bucket, Prefix=key_prefix).get("Contents", [])
            )
            / 1024**2
        )
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                mlflow.artifacts.download_artifacts(f"models:/{name}/1", dst_path=tmp)
                proxied.append(time.perf_counter() - start)
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                listing = boto.list_objects_v2(Bucket=bucket, Prefix=key_prefix)
                keys = [o["Key"] for o in listing.get("Contents", [])]
                for key in keys:
                    dest = Path(tmp) / key[len(key_prefix) :]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    boto.download_file(bucket, key, str(dest))
                direct.append(time.perf_counter() - start)
            start = time.perf_counter()
            loaded = mlflow.pytorch.load_model(f"models:/{name}/1")
            loads.append(time.perf_counter() - start)
            del loaded
    result["proxied_download_s"] = statistics.median(proxied)
    result["direct_s3_download_s"] = statistics.median(direct)
    result["ratio"] = result["proxied_download_s"] / result["direct_s3_download_s"]
    result["load_model_s"] = statistics.median(loads)
    return result


_BUCKETS: dict[str, tuple[str, str]] = {}


def target_bucket(target: Target) -> tuple[str, str]:
    return _BUCKETS[target.name]


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return children


def tree_memory(pid: int | None) -> dict[str, float]:
    """RSS and PSS (shared pages split between sharers) of a process and all its descendants."""
    if pid is None:
        return {"rss_mib": 0.0, "pss_mib": 0.0, "processes": 0}
    children = _children()
    todo, tree = [pid], []
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    rss = pss = 0
    for proc in tree:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{proc}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
    return {"rss_mib": rss / 1024, "pss_mib": pss / 1024, "processes": len(tree)}


# -- servers -----------------------------------------------------------------------------------
def start_stock(
    name: str,
    pg: PostgresServer,
    s3: S3Server,
    logs: Path,
    work: Path,
    extra: list[str] | None = None,
    env_extra: dict[str, str] | None = None,
    database: str | None = None,
) -> tuple[ManagedProcess, str]:
    """`mlflow server` with default flags (only the stores and the address are given)."""
    port = free_port()
    bucket = s3.create_bucket(f"bench-{name}")
    _BUCKETS[name] = (bucket, "mlflow")
    env = dict(os.environ)
    env.update(s3.env)
    env.update(env_extra or {})
    argv = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", pg.create_database(database or f"bench_{name.replace('-', '_')}"),
        "--artifacts-destination", f"s3://{bucket}/mlflow",
        "--host", "127.0.0.1", "--port", str(port),
        *(extra or []),
    ]  # fmt: skip
    proc = start_http_server(
        f"mlflow server ({name})",
        argv,
        health_url=f"http://127.0.0.1:{port}/health",
        log_path=logs / f"{name}.log",
        port=port,
        env=env,
        cwd=work,
        start_timeout=240,
    )
    return proc, f"http://127.0.0.1:{port}"


NO_GATE = r"""
import uvicorn
from podlab_mlflow.runner import mlflow_log_config
from podlab_mlflow.settings import load_settings
settings = load_settings()
uvicorn.Server(uvicorn.Config(
    "mlflow.server.fastapi_app:app", host=settings.host, port=settings.port, workers=1,
    log_config=str(mlflow_log_config()), timeout_graceful_shutdown=20,
)).run()
"""


def start_without_gate(podlab: PodlabMlflowServer, logs: Path) -> tuple[ManagedProcess, str]:
    """podlab's server exactly as `serve` runs it (same environment, runner settings and log
    format) but with MLflow's bare app: the difference to podlab is the gate and nothing else.
    Benchmark only: podlab-mlflow itself has no way to run without the gate."""
    from podlab_mlflow.cli import server_environment
    from podlab_mlflow.settings import load_settings

    port = free_port()
    env = podlab.env()
    env["PODLAB_MLFLOW_PORT"] = str(port)
    env.update(server_environment(load_settings(env)))
    proc = start_http_server(
        "podlab without its gate",
        [sys.executable, "-c", NO_GATE],
        health_url=f"http://127.0.0.1:{port}/health",
        log_path=logs / "podlab-no-gate.log",
        port=port,
        env=env,
        start_timeout=240,
    )
    return proc, f"http://127.0.0.1:{port}"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import mlflow

    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
        "python": platform.python_version(),
        "mlflow": mlflow.__version__,
        "load_average_at_start": os.getloadavg(),
        "platform": platform.platform(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads (a smoke run)")
    parser.add_argument(
        "--docs-plot",
        action="store_true",
        help=f"also write the plot to {DOC_PLOT.relative_to(REPO)} (for a run the docs report)",
    )
    args = parser.parse_args()
    scale = {
        "batches": 5 if args.quick else 20,
        "runs": 50 if args.quick else 200,
        "search_runs": 10_000,
        "search_repeats": 10 if args.quick else 40,
        "requests": 100 if args.quick else 500,
        "model_mb": 20 if args.quick else 200,
        "model_repeats": 1 if args.quick else 3,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    logs = RESULTS / f"mlflow-logs-{stamp}"
    work = new_work_dir("bench-mlflow")
    report: dict[str, Any] = {"machine": machine(), "scale": scale, "results": {}}
    cleanup: list[Callable[[], None]] = []
    try:
        pg = PostgresServer(work / "pg", logs / "pg", free_port()).init().start()
        cleanup.append(pg.stop)
        s3 = S3Server(logs, free_port()).start()
        cleanup.append(s3.stop)
        port, token = free_port(), secrets.token_hex(32)
        hub = JupyterHubServer(
            work / "hub", logs / "hub", extra_config=hub_service_config(port, token)
        ).start()
        cleanup.append(hub.stop)
        alice, _ = hub.user_token("alice")

        podlab = PodlabMlflowServer(
            hub=hub,
            database_url=pg.create_database("bench_podlab"),
            s3=s3,
            bucket="bench-podlab",
            log_dir=logs,
            port=port,
            service_token=token,
            workers=None,  # the default, derived from CPUs
            token_cache_ttl=30,
        )
        _BUCKETS["podlab"] = ("bench-podlab", "mlflow")
        podlab.migrate()
        podlab.start(start_timeout=240)
        cleanup.append(podlab.stop)
        stock_proc, stock_url = start_stock("stock", pg, s3, logs, work)
        cleanup.append(stock_proc.stop)
        targets = [
            Target("podlab", podlab.url, lambda: podlab.pid, {"MLFLOW_TRACKING_TOKEN": alice}),
            Target("stock", stock_url, lambda: stock_proc.pid, {}),
        ]
        results: dict[str, Any] = report["results"]
        for target in targets:
            results[target.name] = {}
        print("== log_batch and runs (servers taking turns)", flush=True)
        for name, value in bench_log_batch(targets, scale["batches"]).items():
            results[name]["metrics_per_s"] = value
        for name, value in bench_runs(targets, scale["runs"]).items():
            results[name]["runs_per_s"] = value
        print("== search_runs over 10,000 runs (servers taking turns)", flush=True)
        experiments = {
            t.name: seed_runs(
                pg, "bench_podlab" if t.name == "podlab" else "bench_stock", t, scale["search_runs"]
            )
            for t in targets
        }
        searches = bench_search(targets, experiments, scale["search_repeats"])
        for name, values in searches.items():
            results[name].update(
                search_p50_ms=percentile(values, 50), search_p95_ms=percentile(values, 95)
            )
        results["search_paired_ratio"] = paired_ratio(searches["podlab"], searches["stock"])
        for target in targets:
            print(f"== {target.name}: model load", flush=True)
            results[target.name]["model"] = bench_model_load(
                target, s3, scale["model_mb"], scale["model_repeats"]
            )
        for target in targets:
            results[target.name]["memory"] = tree_memory(target.pid())

        print("== request latency (auth overhead: single-worker servers)", flush=True)
        # The overhead of authentication is measured between single-worker servers: with
        # several workers stock uvicorn adds ~40 ms per request (no TCP_NODELAY, see
        # podlab_mlflow/runner.py), which would drown the difference being measured.
        one_proc, one_url = start_stock(
            "stock-1worker", pg, s3, logs, work, ["--workers", "1"], database="bench_stock"
        )
        cleanup.append(one_proc.stop)
        podlab_one = PodlabMlflowServer(
            hub=hub,
            database_url=pg.url("bench_podlab"),
            s3=s3,
            bucket="bench-podlab",
            log_dir=logs,
            workers=1,
            token_cache_ttl=30,
        )
        podlab_one.start(start_timeout=240)
        cleanup.append(podlab_one.stop)
        bare_proc, bare_url = start_without_gate(podlab_one, logs)
        cleanup.append(bare_proc.stop)
        compared = [
            *targets,
            Target("stock-1worker", one_url, lambda: one_proc.pid, {}),
            Target(
                "podlab-1worker",
                podlab_one.url,
                lambda: podlab_one.pid,
                {"MLFLOW_TRACKING_TOKEN": alice},
            ),
            Target("podlab-no-gate", bare_url, lambda: bare_proc.pid, {}),
        ]
        auth_ini = work / "basic_auth.ini"
        auth_ini.write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = {pg.create_database('bench_basic_auth_users')}\n"
            "admin_username = admin\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            "auth_cache_ttl_seconds = 60\n"
        )
        try:
            basic_proc, basic_url = start_stock(
                "stock-basic-auth",
                pg,
                s3,
                logs,
                work,
                ["--app-name", "basic-auth", "--workers", "1"],
                {
                    "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini),
                    "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
                    "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
                },
                database="bench_stock",
            )
        except ComponentError as err:
            reason = str(err).strip().splitlines()[-1]
            print(f"MLflow basic-auth app could not start: {reason}", flush=True)
            results["stock-basic-auth"] = {"unavailable": reason}
        else:
            cleanup.append(basic_proc.stop)
            compared.append(
                Target(
                    "stock-basic-auth",
                    basic_url,
                    lambda: basic_proc.pid,
                    {
                        "MLFLOW_TRACKING_USERNAME": "admin",
                        "MLFLOW_TRACKING_PASSWORD": ADMIN_PASSWORD,
                    },
                )
            )
        latency = bench_request_latency(compared, scale["requests"])
        results["request_p50_ms"] = {name: percentile(v, 50) for name, v in latency.items()}
        overhead = {}
        for name, label, base in (
            ("podlab-1worker", "podlab_gate", "podlab-no-gate"),
            ("podlab-1worker", "podlab_vs_stock", "stock-1worker"),
            ("stock-basic-auth", "mlflow_basic_auth", "stock-1worker"),
        ):
            if name in latency:  # paired: request i of each server ran back to back
                overhead[label] = statistics.median(
                    a - b for a, b in zip(latency[name], latency[base], strict=True)
                )
        results["request_p95_ms"] = {name: percentile(v, 95) for name, v in latency.items()}
        results["auth_overhead_ms"] = overhead
        if "stock-basic-auth" in latency:
            results["stock-basic-auth"] = {"memory": tree_memory(compared[-1].pid())}
    finally:
        for stop in reversed(cleanup):
            with contextlib.suppress(Exception):
                stop()
        shutil.rmtree(work, ignore_errors=True)

    out = RESULTS / f"mlflow-{stamp}.json"
    out.write_text(json.dumps(report, indent=2))
    print_table(report)
    plot(report, docs=args.docs_plot)
    print(f"\nraw results: {out}\nlogs: {logs}")
    return 0


def print_table(report: dict[str, Any]) -> None:
    r = report["results"]
    p, s = r["podlab"], r["stock"]
    rows = [
        ("log_batch metrics/s", p["metrics_per_s"], s["metrics_per_s"], "higher"),
        ("runs/s (create+end)", p["runs_per_s"], s["runs_per_s"], "higher"),
        ("search_runs p50 ms (10k runs)", p["search_p50_ms"], s["search_p50_ms"], "lower"),
        ("search_runs p95 ms (10k runs)", p["search_p95_ms"], s["search_p95_ms"], "lower"),
        (
            "request p50 ms (default workers)",
            r["request_p50_ms"]["podlab"],
            r["request_p50_ms"]["stock"],
            "lower",
        ),
        (
            "request p50 ms (1 worker)",
            r["request_p50_ms"]["podlab-1worker"],
            r["request_p50_ms"]["stock-1worker"],
            "lower",
        ),
        (
            "model download s (podlab proxied; stock presigned)",
            p["model"]["proxied_download_s"],
            s["model"]["proxied_download_s"],
            "lower",
        ),
        ("load_model s", p["model"]["load_model_s"], s["model"]["load_model_s"], "lower"),
        ("server tree RSS MiB", p["memory"]["rss_mib"], s["memory"]["rss_mib"], "lower"),
        ("server tree PSS MiB", p["memory"]["pss_mib"], s["memory"]["pss_mib"], "lower"),
    ]
    m = report["machine"]
    print(f"\nmachine: {m['cpu']}, {m['cpus']} CPUs, {m['memory_gib']} GiB, MLflow {m['mlflow']}")
    print(f"load average at start: {m['load_average_at_start']}")
    print(f"{'measure':52} {'podlab':>12} {'stock':>12} {'podlab/stock':>13}")
    for name, pv, sv, _ in rows:
        print(f"{name:52} {pv:12.2f} {sv:12.2f} {pv / sv if sv else float('nan'):13.2f}")
    o = r["auth_overhead_ms"]
    basic = (
        f"{o['mlflow_basic_auth']:.2f} ms"
        if "mlflow_basic_auth" in o
        else f"not measured ({r['stock-basic-auth'].get('unavailable', '?')})"
    )
    print(
        f"\nauth overhead p50 (paired): podlab's gate {o['podlab_gate']:.2f} ms (target <= 2 ms; "
        f"against the same server without the gate), podlab vs stock "
        f"{o['podlab_vs_stock']:.2f} ms, MLflow basic-auth vs stock {basic}"
    )
    mp = p["model"]
    print(
        f"{mp['size_mb']:.0f} MB model: proxied {mp['proxied_download_s']:.2f} s vs direct S3 "
        f"{mp['direct_s3_download_s']:.2f} s = {mp['ratio']:.2f}x (target <= 1.5x); "
        f"log_model {mp['log_s']:.1f} s"
    )
    print(f"processes: podlab {p['memory']['processes']}, stock {s['memory']['processes']}")
    print(
        f"search_runs paired ratio (median of podlab/stock per request pair): "
        f"{r['search_paired_ratio']:.2f} (target <= 1.0)"
    )


def plot(report: dict[str, Any], *, docs: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = report["results"]
    p, s = r["podlab"], r["stock"]
    panels = [
        ("metrics/s (log_batch)", p["metrics_per_s"], s["metrics_per_s"]),
        ("runs/s", p["runs_per_s"], s["runs_per_s"]),
        ("search p95 ms", p["search_p95_ms"], s["search_p95_ms"]),
        (
            "200 MB model download s\n(podlab proxied, stock presigned)",
            p["model"]["proxied_download_s"],
            s["model"]["proxied_download_s"],
        ),
        ("server RSS MiB", p["memory"]["rss_mib"], s["memory"]["rss_mib"]),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3))
    for ax, (title, pv, sv) in zip(axes, panels, strict=True):
        ax.bar(["podlab", "stock"], [pv, sv], color=["#2b6cb0", "#a0aec0"])
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"MLflow server: podlab vs stock ({report['machine']['cpus']} CPUs)", fontsize=10)
    fig.tight_layout()
    fig.savefig(RESULTS / "mlflow.png", dpi=110)
    if docs:
        DOC_PLOT.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(DOC_PLOT, dpi=90)


if __name__ == "__main__":
    sys.exit(main())
