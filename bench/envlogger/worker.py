"""Measurement side of the envlogger benchmark; run.py copies it into the synthetic repo.

It runs as the "user script" of a 5,000-file repository with 1,500+ distributions on sys.path,
so every number below sees exactly what a real run would: the same sys.path scan, the same
`git status`, the same MLflow run context providers.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CPU_SAMPLES: dict[int, list[float]] = {}


def _cpu_ms() -> float:
    """CPU time of this process and its waited-for children (git), in ms."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # µs resolution, not clock ticks
    return (own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime) * 1000


def timings(fn: Callable[[], object], runs: int, warmup: int = 2) -> list[float]:
    """Wall-clock samples; the matching CPU-time samples are kept in CPU_SAMPLES."""
    for _ in range(warmup):
        fn()
    out: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        cpu_start = _cpu_ms()
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
        cpu.append(_cpu_ms() - cpu_start)
    CPU_SAMPLES[id(out)] = cpu
    return out


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "n": len(values),
        "p50_ms": statistics.median(values),
        "p95_ms": _p95(values),
        "mean_ms": statistics.fmean(values),
        "min_ms": min(values),
        "max_ms": max(values),
        "samples_ms": values,
    }
    cpu = CPU_SAMPLES.get(id(values))
    if cpu:
        data["cpu_p50_ms"] = statistics.median(cpu)
        data["cpu_p95_ms"] = _p95(cpu)
    return data


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@podlab.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    repo = Path(config["repo"])
    runs = int(config["runs"])
    import envlogger
    from envlogger.gitstate import capture_git
    from envlogger.packages import scan_packages

    results: dict[str, Any] = {}
    snap = envlogger.capture(repo)
    results["distributions_seen"] = len(snap.packages)
    results["repo_files"] = int(config["repo_files"])
    results["capture_clean"] = summary(timings(lambda: envlogger.capture(repo), runs))
    results["packages_scan"] = summary(timings(scan_packages, runs))
    results["git_clean"] = summary(timings(lambda: capture_git(repo), runs))

    # Dirty: 3 modified tracked files and 2 untracked ones, the diff computed every time.
    for i in range(3):
        with open(repo / "src" / f"mod_{i:04d}.py", "a") as fh:
            fh.write(f"# local edit {i}\n")
    for i in range(2):
        (repo / f"scratch_{i}.py").write_text(f"print({i})\n")
    dirty = envlogger.capture(repo)
    assert dirty.git.dirty, "the benchmark tree should be dirty here"
    results["capture_dirty"] = summary(timings(lambda: envlogger.capture(repo), runs))
    git(repo, "checkout", "--", ".")
    for i in range(2):
        (repo / f"scratch_{i}.py").unlink()

    from mlflow.tracking.context.git_context import _resolve_git_info

    results["mlflow_git_provider"] = summary(timings(_resolve_git_info, runs))
    results["pip_freeze"] = summary(
        timings(
            lambda: subprocess.run(
                [sys.executable, "-m", "pip", "freeze", "--disable-pip-version-check"],
                check=True,
                capture_output=True,
            ),
            int(config["pip_runs"]),
            warmup=1,
        )
    )
    results.update(start_run_latency(Path(config["tracking_dir"]), int(config["start_runs"])))
    print(json.dumps(results))


def start_run_latency(tracking_dir: Path, runs: int) -> dict[str, Any]:
    """`start_run()`+`end_run()` with the provider on and off, interleaved, upload excluded."""
    import mlflow

    import envlogger.mlflow_plugin as plugin

    # Excluded by the budget ("excluding artifact upload"): measured separately below.
    plugin._upload_when_created = lambda *args, **kwargs: None
    mlflow.set_tracking_uri(f"sqlite:///{tracking_dir}/mlflow.db")
    mlflow.set_experiment("envlogger-bench")
    last_enabled = ""
    on: list[float] = []
    off: list[float] = []
    on_cpu: list[float] = []
    off_cpu: list[float] = []
    for i in range(runs + 3):
        for enabled, bucket, cpu_bucket in ((True, on, on_cpu), (False, off, off_cpu)):
            os.environ["ENVLOGGER_DISABLE"] = "0" if enabled else "1"
            cpu_start = _cpu_ms()
            start = time.perf_counter()
            with mlflow.start_run() as active:
                pass
            if enabled:
                last_enabled = active.info.run_id
            if i >= 3:  # warm-up: first runs create tables and caches
                bucket.append((time.perf_counter() - start) * 1000)
                cpu_bucket.append(_cpu_ms() - cpu_start)
    CPU_SAMPLES[id(on)] = on_cpu
    CPU_SAMPLES[id(off)] = off_cpu
    # What envlogger itself adds inside start_run(): the provider's tags() call.
    provider = plugin.EnvloggerRunContextProvider()
    provider_tags = timings(provider.tags, runs)
    os.environ.pop("ENVLOGGER_DISABLE", None)
    tags = mlflow.get_run(last_enabled).data.tags
    assert tags.get("envlogger.git"), "the provider did not tag the benchmark runs"

    from mlflow.tracking import MlflowClient

    from envlogger.mlflow_log import upload_artifacts

    snap = envlogger_capture()
    client = MlflowClient()
    with mlflow.start_run() as active:
        run_id = active.info.run_id
    upload = timings(lambda: upload_artifacts(client, run_id, snap), 5, warmup=1)
    return {
        "provider_tags": summary(provider_tags),
        "start_run_with_envlogger": summary(on),
        "start_run_without_envlogger": summary(off),
        "artifact_upload_local": summary(upload),
    }


def envlogger_capture() -> Any:
    import envlogger

    return envlogger.capture()


if __name__ == "__main__":
    main()
