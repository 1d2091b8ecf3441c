"""`python -m podlab.localstack.kube up|down|status` (what `make kube-up` etc. run)."""

from __future__ import annotations

import argparse
import sys

from podlab.localstack.kube.cluster import KubeCluster, KubeError, KubeSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="podlab-kube", description="the local Kubernetes test bed"
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--state-dir", help="default: $PODLAB_KUBE_DIR or ./.podlab/kube")
    args = parser.parse_args(argv)
    cluster = KubeCluster(KubeSettings.from_env(args.state_dir))
    try:
        if args.command == "up":
            cluster.up()
            print(f"export KUBECONFIG={cluster.kubeconfig}")
        elif args.command == "down":
            cluster.down()
        else:
            return 0 if cluster.status() else 1
    except KubeError as err:
        print(f"kube-{args.command}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
