"""envlogger benchmark: capture cost with 1,500 distributions and a 5,000-file repository.

Compares, in the same run and on the same synthetic environment, `envlogger.capture()` with
`pip freeze` (subprocess) and MLflow's own git run-context provider, and measures what
envlogger adds to `mlflow.start_run()` (artifact upload excluded, reported separately).

    .venv/bin/python bench/envlogger/run.py [--runs 50] [--dists 1500] [--files 5000]

Prints a table; writes bench/results/envlogger.json and bench/results/envlogger.png
(and, with --docs-plot, docs/img/envlogger-bench.png).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = ROOT / "bench" / "results"
BUDGET_CAPTURE_P95_MS = 50.0
BUDGET_START_RUN_ADDED_P95_MS = 100.0


def make_site(site: Path, count: int) -> None:
    """`count` distributions with real METADATA, so pip freeze lists them too."""
    for i in range(count):
        name = f"synthetic_pkg_{i:04d}"
        info = site / f"{name}-1.{i % 50}.{i}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.{i % 50}.{i}\n"
        )
        (info / "INSTALLER").write_text("pip\n")
        (info / "RECORD").write_text("")


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@podlab.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def make_repo(repo: Path, files: int) -> None:
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    per_dir = 100
    for i in range(files - 1):
        folder = repo / "src" if i < 10 else repo / "pkg" / f"d{i // per_dir:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"mod_{i:04d}.py" if i < 10 else f"f{i:05d}.py"
        (folder / name).write_text(f"VALUE_{i} = {i}\n" * 5)
    shutil.copy(HERE / "worker.py", repo / "train.py")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "synthetic 5,000-file repository")


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "git": subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip(),
        "load_average_1m": os.getloadavg()[0],
    }


def plot(results: dict[str, Any], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [
        ("capture_clean", "envlogger.capture()\nclean tree"),
        ("capture_dirty", "envlogger.capture()\ndirty tree + diff"),
        ("mlflow_git_provider", "MLflow git\ncontext provider"),
        ("pip_freeze", "pip freeze\n(subprocess)"),
    ]
    fig, ax = plt.subplots(figsize=(8, 4.2))
    data = [results[key]["samples_ms"] for key, _ in labels]
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(labels) + 1), [label for _, label in labels])
    ax.set_yscale("log")
    ax.set_ylabel("milliseconds (log scale)")
    ax.axhline(BUDGET_CAPTURE_P95_MS, color="tab:red", linestyle="--", linewidth=1)
    ax.text(0.6, BUDGET_CAPTURE_P95_MS * 1.08, "50 ms p95 budget", color="tab:red", fontsize=8)
    dists, files = results["distributions_seen"], results["repo_files"]
    ax.set_title(f"Provenance capture: {dists} distributions, {files}-file repository")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)


def row(name: str, stats: dict[str, Any], ratio: str = "") -> str:
    cpu = f"{stats['cpu_p95_ms']:>9.1f}" if "cpu_p95_ms" in stats else f"{'-':>9}"
    return f"{name:<44} {stats['p50_ms']:>9.1f} {stats['p95_ms']:>9.1f} {cpu} {ratio:>11}"


def report(results: dict[str, Any]) -> str:
    clean = results["capture_clean"]
    lines = [
        f"machine: {results['machine']['cpu']}, {results['machine']['cpus']} CPUs, "
        f"Python {results['machine']['python']}, {results['machine']['git']}, "
        f"load average {results['load_before']:.1f} before / "
        f"{results['machine']['load_average_1m']:.1f} after (other work shares the CPUs)",
        f"environment: {results['distributions_seen']} distributions on sys.path, "
        f"{results['repo_files']}-file repository, {clean['n']} runs each",
        "",
        f"{'measurement (wall clock; CPU = process + git)':<44} {'p50 ms':>9} {'p95 ms':>9} "
        f"{'CPU p95':>9} {'vs capture':>11}",
        "-" * 86,
        row("envlogger.capture() clean tree", clean),
        row("envlogger.capture() dirty tree (+diff)", results["capture_dirty"]),
        row("  of which: package scan", results["packages_scan"]),
        row("  of which: git state (clean)", results["git_clean"]),
    ]
    for key, label in (
        ("mlflow_git_provider", "MLflow git context provider (GitPython)"),
        ("pip_freeze", "pip freeze (subprocess)"),
    ):
        ratio = results[key]["p50_ms"] / clean["p50_ms"]
        lines.append(row(label, results[key], f"{ratio:.1f}x"))
    on, off = results["start_run_with_envlogger"], results["start_run_without_envlogger"]
    added_p95 = results["provider_tags"]["p95_ms"]
    lines += [
        row("mlflow.start_run()+end_run() with envlogger", on),
        row("mlflow.start_run()+end_run() without", off),
        row("  added: envlogger provider tags() in it", results["provider_tags"]),
        row("artifact upload (background, local store)", results["artifact_upload_local"]),
        "",
        f"budget: capture p95 <= {BUDGET_CAPTURE_P95_MS:.0f} ms -> "
        f"{'met' if clean['p95_ms'] <= BUDGET_CAPTURE_P95_MS else 'MISSED'} "
        f"({clean['p95_ms']:.1f} ms clean, {results['capture_dirty']['p95_ms']:.1f} ms dirty)",
        f"budget: start_run added p95 <= {BUDGET_START_RUN_ADDED_P95_MS:.0f} ms -> "
        f"{'met' if added_p95 <= BUDGET_START_RUN_ADDED_P95_MS else 'MISSED'} "
        f"({added_p95:.1f} ms)",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--dists", type=int, default=1500)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--pip-runs", type=int, default=5)
    parser.add_argument("--start-runs", type=int, default=30)
    parser.add_argument("--docs-plot", action="store_true", help="also write docs/img/")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="on a shared machine, wait up to SECONDS for the 1-minute load to drop below "
        "the CPU count before measuring",
    )
    args = parser.parse_args()
    deadline = time.monotonic() + args.wait_quiet
    while os.getloadavg()[0] >= (os.cpu_count() or 1) and time.monotonic() < deadline:
        time.sleep(5)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="envlogger-bench-") as tmp:
        base = Path(tmp)
        make_site(base / "site", args.dists)
        make_repo(base / "repo", args.files)
        (base / "tracking").mkdir()
        config = base / "config.json"
        config.write_text(
            json.dumps(
                {
                    "repo": str(base / "repo"),
                    "repo_files": args.files,
                    "runs": args.runs,
                    "pip_runs": args.pip_runs,
                    "start_runs": args.start_runs,
                    "tracking_dir": str(base / "tracking"),
                }
            )
        )
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(base / "site"), str(ROOT / "envlogger" / "src")]
            + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
        env.pop("MLFLOW_TRACKING_URI", None)
        proc = subprocess.run(
            [sys.executable, str(base / "repo" / "train.py"), str(config)],
            cwd=base / "repo",
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(proc.stdout, proc.stderr, sep="\n", file=sys.stderr)
            return proc.returncode
        results: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    results["machine"] = machine()
    results["load_before"] = load_before
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "envlogger.json").write_text(json.dumps(results, indent=2))
    plot(results, RESULTS / "envlogger.png")
    if args.docs_plot:
        plot(results, ROOT / "docs" / "img" / "envlogger-bench.png")
    print(report(results))
    print(f"\nwrote {RESULTS / 'envlogger.json'} and {RESULTS / 'envlogger.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
