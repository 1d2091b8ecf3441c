"""Spawn latency and `make up` time: podlab's local spawner vs plain JupyterHub.

In the same run, on the same machine, two real hubs (each with configurable-http-proxy) spawn
N servers one after the other through the REST API, timing start request -> server ready:

- stock: JupyterHub + SimpleLocalProcessSpawner, nothing else;
- podlab: JupyterHub + PodlabLocalSpawner with the integration environment, the startup
  script and the activity reporter (what `make up` runs).

Then `podlab up` (as `python -m podlab up`) is timed twice on a fresh data dir: cold (empty data
dir) and warm (after `down`), with `down` timed too.

    .venv/bin/python bench/spawn/run.py [--spawns 20]

Prints a table; writes bench/results/spawn.json and bench/results/spawn.png
(with --docs-plot also docs/img/spawn-bench.png).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from podlab.localstack.jupyterhub import JupyterHubServer
from podlab.localstack.process import free_port

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
TARGET_RATIO = 1.1
# Generous on a loaded 2-core machine: a slow start is measured, not failed.
# slow_spawn_timeout 0: the API answers 202 at once and the bench polls for readiness (the
# same clock for both sides; JupyterHub 6.1 can answer 500 when a spawn crosses the default).
TIMEOUTS = (
    "\nc.Spawner.http_timeout = 120\nc.Spawner.start_timeout = 120\n"
    "c.JupyterHub.tornado_settings = {'slow_spawn_timeout': 0}\n"
)

CONFIG = {
    "podlab": {
        "profiles": [
            {
                "slug": "cpu-small",
                "display_name": "CPU small",
                "default": True,
                "cpu": {"guarantee": 0.5, "limit": 2},
                "memory": {"guarantee": "1Gi", "limit": "4Gi"},
            }
        ],
        "culling": {"enabled": False},
    }
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def spawn_times(hub: JupyterHubServer, count: int, options: dict[str, Any]) -> list[float]:
    times = []
    for i in range(count):
        user = f"bench{i:02d}"
        hub.create_user(user)
        began = time.monotonic()
        status, reply = hub.api("POST", f"/users/{user}/server", body=options)
        if status not in (201, 202):
            raise RuntimeError(f"spawn {user}: {status} {reply}")
        while True:
            _, model = hub.api("GET", f"/users/{user}")
            server = (model.get("servers") or {}).get("")
            if server and server.get("ready"):
                break
            if time.monotonic() - began > 120:
                raise RuntimeError(f"{user}: not ready after 120 s")
            time.sleep(0.05)
        times.append(time.monotonic() - began)
        hub.api("DELETE", f"/users/{user}/server")
    return times


def measure_spawns(work: Path, count: int) -> dict[str, list[float]]:
    config_path = work / "podlab.yaml"
    config_path.write_text(yaml.safe_dump(CONFIG))
    logs = RESULTS / "spawn-logs"
    hubs = {
        # The same single-user command on both sides: only the spawner differs.
        "stock": JupyterHubServer(
            work / "stock",
            logs,
            spawner_class="simple",
            extra_config=f"c.Spawner.cmd = [{sys.executable!r}, '-m', 'jupyterhub.singleuser']\n"
            # As the podlab spawner does when the hub runs as root (CI, containers).
            + ("c.Spawner.args = ['--allow-root']\n" if os.geteuid() == 0 else "")
            + TIMEOUTS,
        ),
        "podlab": JupyterHubServer(
            work / "podlab",
            logs / "podlab",
            spawner_class="podlab.localspawner.PodlabLocalSpawner",
            extra_config=f"c.PodlabLocalSpawner.config_path = {str(config_path)!r}\n"
            f"c.PodlabLocalSpawner.data_dir = {str(work / 'data')!r}\n" + TIMEOUTS,
        ),
    }
    results: dict[str, list[float]] = {"stock": [], "podlab": []}
    try:
        for hub in hubs.values():
            hub.start()
        # Interleave rounds so drift on a shared machine hits both sides alike.
        rounds = 4
        per_round = max(1, count // rounds)
        for r in range(rounds):
            for name, hub in hubs.items():
                options = {"profile": "cpu-small"} if name == "podlab" else {}
                batch = spawn_times(hub, per_round, options)
                results[name] += batch
                print(f"  round {r + 1}/{rounds} {name:<7} {statistics.median(batch):.2f}s")
    finally:
        for hub in hubs.values():
            hub.stop()
    return results


def measure_make_up(work: Path) -> dict[str, float]:
    config = json.loads(json.dumps(CONFIG))
    s3, mlflow = free_port(), free_port()
    config["podlab"]["integrations"] = {
        "mlflow": {"url": f"http://127.0.0.1:{mlflow}"},
        "s3": {"region": "us-east-1", "endpoint_url": f"http://127.0.0.1:{s3}"},
    }
    (work / "platform.yaml").write_text(yaml.safe_dump(config))
    work.chmod(0o755)
    env = dict(os.environ)
    env.update(
        {
            "PODLAB_CONFIG": str(work / "platform.yaml"),
            "PODLAB_DATA_DIR": str(work / "platform-data"),
            "PODLAB_HUB_PORT": str(free_port()),
            "PODLAB_PG_PORT": str(free_port()),
        }
    )

    def timed(command: str) -> float:
        began = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "podlab", command],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"podlab {command} failed:\n{result.stdout}\n{result.stderr}")
        return time.monotonic() - began

    times = {"up_cold": timed("up"), "down": timed("down")}
    times["up_warm"] = timed("up")
    times["down_warm"] = timed("down")
    return times


def plot(spawns: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.boxplot([spawns["stock"], spawns["podlab"]], orientation="horizontal", widths=0.5)
    ax.set_yticks(
        [1, 2],
        [
            "JupyterHub +\nSimpleLocalProcessSpawner",
            "podlab local spawner\n(integrations, startup,\nactivity reporter)",
        ],
    )
    ax.set_xlabel("spawn latency: start request → server ready (s)")
    ax.set_title(f"{len(spawns['stock'])} spawns each, same run")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spawns", type=int, default=20)
    parser.add_argument("--docs-plot", action="store_true")
    parser.add_argument("--skip-make-up", action="store_true")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    os.environ["PATH"] = f"{ROOT / 'tools' / 'bin'}:{os.environ['PATH']}"
    work = Path(tempfile.mkdtemp(prefix="podlab-bench-spawn-"))
    try:
        print(f"spawning {args.spawns} servers on each hub ...")
        spawns = measure_spawns(work, args.spawns)
        up = {} if args.skip_make_up else measure_make_up(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = {
        name: {"p50": statistics.median(v), "p95": percentile(v, 95), "n": len(v)}
        for name, v in spawns.items()
    }
    ratio_p50 = rows["podlab"]["p50"] / rows["stock"]["p50"]
    ratio_p95 = rows["podlab"]["p95"] / rows["stock"]["p95"]
    machine = f"{platform.node()} · {os.cpu_count()} CPUs · Python {platform.python_version()}"
    print(f"\nmachine: {machine}")
    print(f"{'spawner':<10} {'n':>3} {'p50 (s)':>9} {'p95 (s)':>9}")
    for name, row in rows.items():
        print(f"{name:<10} {row['n']:>3} {row['p50']:>9.2f} {row['p95']:>9.2f}")
    verdict = "meets" if ratio_p50 <= TARGET_RATIO else "misses"
    print(
        f"ratio podlab/stock: p50 {ratio_p50:.2f}, p95 {ratio_p95:.2f} "
        f"({verdict} the ≤ {TARGET_RATIO} target on p50)"
    )
    for name, seconds in up.items():
        print(f"podlab {name.replace('_', ' ')}: {seconds:.1f}s")
    result = {
        "machine": machine,
        "spawns": spawns,
        "rows": rows,
        "ratio_p50": ratio_p50,
        "ratio_p95": ratio_p95,
        "make_up": up,
    }
    (RESULTS / "spawn.json").write_text(json.dumps(result, indent=2))
    plot(spawns, RESULTS / "spawn.png")
    if args.docs_plot:
        plot(spawns, ROOT / "docs" / "img" / "spawn-bench.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
