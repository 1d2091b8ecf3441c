"""`envlogger show | diff | reproduce`: read provenance here or from MLflow runs."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from envlogger.mlflow_log import ARTIFACT_DIR
from envlogger.reproduce import CannotReproduce, render_script
from envlogger.snapshot import Capture, capture


class CliError(Exception):
    """A user-facing failure: printed as `envlogger: <message>`, exit status 2."""


def _show(args: argparse.Namespace) -> int:
    snap = capture(args.dir)
    if args.json:
        print(snap.to_json(include_diff=args.diff))
        return 0
    git = snap.git
    print(f"entry point : {snap.entry_point.describe()}")
    print(f"argv        : {json.dumps(list(snap.argv))}")
    if git.available:
        state = "dirty" if git.dirty else "clean"
        print(f"git         : {git.commit or '(no commit)'} ({state}) branch={git.branch or '-'}")
        print(f"repository  : {git.root}  remote={git.remote or '-'}")
        if git.unpushed_commits:
            print(f"unpushed    : {git.unpushed_commits} commit(s)")
        if git.untracked:
            print(f"untracked   : {len(git.untracked)} file(s)")
    else:
        print(f"git         : unavailable ({git.unavailable_reason}: {git.unavailable_detail})")
    editable = [p for p in snap.packages if p.editable]
    print(f"packages    : {len(snap.packages)} ({len(editable)} editable)")
    for pkg in editable:
        state = "dirty" if pkg.source_dirty else "clean"
        print(f"  -e {pkg.name}=={pkg.version} {pkg.source} {pkg.source_commit or '-'} ({state})")
    for broken in snap.broken_packages:
        print(f"  broken metadata: {broken.path}: {broken.error}")
    print(f"python      : {snap.python_version}")
    print(f"env hash    : {snap.env_hash}")
    print(f"captured in : {snap.duration_ms:.1f} ms")
    for err in snap.errors:
        print(f"error       : {err}")
    if args.diff and git.diff_bytes:
        print()
        sys.stdout.write(git.diff)
    return 0


def _download(run_id: str, name: str, dest: Path) -> Path:
    import mlflow.artifacts

    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=f"{ARTIFACT_DIR}/{name}", dst_path=str(dest)
        )
    except Exception as err:
        raise CliError(
            f"cannot download {ARTIFACT_DIR}/{name} of run {run_id}: {err}. Check "
            "MLFLOW_TRACKING_URI and that the run was logged with envlogger installed"
        ) from err
    return Path(local)


def load_run(run_id: str) -> tuple[Capture, bytes]:
    """The capture and the raw git.diff recorded on an MLflow run."""
    with tempfile.TemporaryDirectory(prefix="envlogger-") as tmp:
        env_file = _download(run_id, "environment.json", Path(tmp) / "a")
        snap = Capture.from_dict(json.loads(env_file.read_text(encoding="utf-8")))
        diff = _download(run_id, "git.diff", Path(tmp) / "b").read_bytes()
    return snap, diff


def diff_captures(a: Capture, b: Capture) -> dict[str, Any]:
    pa = {p.key: p for p in a.packages}
    pb = {p.key: p for p in b.packages}
    return {
        "packages": {
            "added": [f"{pb[k].name}=={pb[k].version}" for k in sorted(pb.keys() - pa.keys())],
            "removed": [f"{pa[k].name}=={pa[k].version}" for k in sorted(pa.keys() - pb.keys())],
            "changed": [
                {"name": pb[k].name, "from": pa[k].version, "to": pb[k].version}
                for k in sorted(pa.keys() & pb.keys())
                if pa[k].version != pb[k].version
            ],
        },
        "commit": {"from": a.git.commit, "to": b.git.commit},
        "dirty": {"from": a.git.dirty, "to": b.git.dirty},
        "argv": {"from": list(a.argv), "to": list(b.argv)},
        "python": {"from": a.python_version, "to": b.python_version},
        "env_hash": {"from": a.env_hash, "to": b.env_hash},
    }


def _diff(args: argparse.Namespace) -> int:
    a, _ = load_run(args.run_a)
    b, _ = load_run(args.run_b)
    result = diff_captures(a, b)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"--- {args.run_a}\n+++ {args.run_b}")
    for key in ("commit", "dirty", "python", "argv", "env_hash"):
        change = result[key]
        if change["from"] == change["to"]:
            print(f"  {key}: {json.dumps(change['from'])} (same)")
        else:
            print(f"~ {key}: {json.dumps(change['from'])} -> {json.dumps(change['to'])}")
    pkgs = result["packages"]
    for item in pkgs["added"]:
        print(f"+ {item}")
    for item in pkgs["removed"]:
        print(f"- {item}")
    for item in pkgs["changed"]:
        print(f"~ {item['name']}: {item['from']} -> {item['to']}")
    if not (pkgs["added"] or pkgs["removed"] or pkgs["changed"]):
        print("  packages: identical")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    snap, diff = load_run(args.run_id)
    try:
        script = render_script(snap, args.run_id, diff)
    except CannotReproduce as err:
        raise CliError(str(err)) from err
    if args.output:
        Path(args.output).write_text(script)
        Path(args.output).chmod(0o755)
    else:
        sys.stdout.write(script)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="envlogger", description="Run provenance: show it here, compare or repeat runs."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="capture and print the provenance of this directory")
    show.add_argument("--json", action="store_true", help="print the full capture as JSON")
    show.add_argument("--diff", action="store_true", help="include the git diff")
    show.add_argument("--dir", default=None, help="repository directory (default: cwd)")
    show.set_defaults(func=_show)
    diff = sub.add_parser("diff", help="compare two MLflow runs' environments")
    diff.add_argument("run_a")
    diff.add_argument("run_b")
    diff.add_argument("--json", action="store_true")
    diff.set_defaults(func=_diff)
    rep = sub.add_parser("reproduce", help="print a shell script that repeats an MLflow run")
    rep.add_argument("run_id")
    rep.add_argument("-o", "--output", help="write the script to this file instead of stdout")
    rep.set_defaults(func=_reproduce)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "show" and args.dir is None:
        args.dir = str(Path.cwd())
    try:
        result: int = args.func(args)
    except CliError as err:
        print(f"envlogger: {err}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
