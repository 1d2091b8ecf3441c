"""`python -m podlab.localstack.kube up|down|status` (what `make kube-up` etc. run).

A developer's test bed, not part of the `podlab` command users get; it follows the same
argparse style (`set_defaults(func=…)`) and exit codes (0 done or healthy, 1 failed, 2 usage).
"""

from __future__ import annotations

import argparse
import sys

from podlab.localstack.kube.cluster import KubeCluster, KubeError, KubeSettings


def _up(cluster: KubeCluster) -> int:
    cluster.up()
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    return 0


def _down(cluster: KubeCluster) -> int:
    cluster.down()
    return 0


def _status(cluster: KubeCluster) -> int:
    return 0 if cluster.status() else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podlab-kube", description="the local Kubernetes test bed"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, func, help_text in (
        ("up", _up, "start the control plane, kwok nodes and the pod runner"),
        ("down", _down, "stop the test bed (its data in .podlab/kube is kept)"),
        ("status", _status, "show each component and its health (1 unless all are healthy)"),
    ):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--state-dir", help="default: $PODLAB_KUBE_DIR or ./.podlab/kube")
        sub.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cluster = KubeCluster(KubeSettings.from_env(args.state_dir))
    try:
        status: int = args.func(cluster)
    except KubeError as err:
        print(f"kube-{args.command}: {err}", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
