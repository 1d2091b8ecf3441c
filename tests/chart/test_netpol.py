"""The NetworkPolicies of an installed release, checked by a connectivity analyser.

No CNI enforces NetworkPolicies in the test bed, so the installed objects (the chart's and the
ones the hub creates per user) are read by np-guard's netpol-analyzer (`netpolicy evaluate`,
built by make setup) over the live API server, instead of reading YAML by hand: who may reach
whom, on which port. (No packet is sent; the external addresses are only evaluated.)
"""

from __future__ import annotations

import ipaddress
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from podlab.config import NetworkConfig
from tests.hub.test_kube_spawn import user
from tests.support.hubclient import HubUser
from tests.support.kube import KubeCluster, get_json
from tests.support.release import Release

METADATA = "169.254.169.254"
PRIVATE = str(next(ipaddress.ip_network(NetworkConfig().private_cidrs[0]).hosts()))
"""An address of the cluster's private ranges, as the API server's endpoints and the RDS
database have on EKS (evaluated only, never contacted)."""


def verdict(
    kube: KubeCluster,
    source: tuple[str, str],
    port: int,
    destination: tuple[str, str] | None = None,
    ip: str | None = None,
) -> bool:
    """Whether the NetworkPolicies allow `source` (namespace, pod) to open TCP `port` on the
    destination pod or IP."""
    argv = [
        str(kube.settings.bin_dir / "netpolicy"),
        "evaluate",
        "-k",
        str(kube.kubeconfig),
        "-q",
        "-n",
        source[0],
        "-s",
        source[1],
        "-p",
        str(port),
    ]
    argv += (
        ["--destination-namespace", destination[0], "-d", destination[1]]
        if destination
        else ["--destination-ip", str(ip)]
    )
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    assert line.endswith((": true", ": false")), line
    return line.endswith(": true")


def pod_in(kube: KubeCluster, namespace: str, selector: str) -> tuple[str, str]:
    pods = get_json(kube, "pods", "-n", namespace, "-l", selector)["items"]
    running = [
        p
        for p in pods
        if p["status"].get("phase") == "Running" and "deletionTimestamp" not in p["metadata"]
    ]
    assert running, f"no running pod {selector} in {namespace}"
    return namespace, running[0]["metadata"]["name"]


@pytest.fixture(scope="module")
def two_users(trial_release: Release) -> Iterator[list[HubUser]]:
    people = [user(trial_release, f"net-{uuid.uuid4().hex[:4]}") for _ in range(2)]
    for person in people:
        assert person.start("cpu-small").status_code in (201, 202)
    for person in people:
        person.wait_ready()
    yield people
    for person in people:
        person.stop()


def test_the_platform_and_its_users_reach_what_they_need(
    trial_release: Release, two_users: list[HubUser]
):
    kube, ns = trial_release.kube, trial_release.namespace
    hub = pod_in(kube, ns, "app.kubernetes.io/component=hub")
    proxy = pod_in(kube, ns, "app.kubernetes.io/component=proxy")
    mlflow = pod_in(kube, ns, "app.kubernetes.io/component=mlflow")
    alice = pod_in(kube, f"podlab-{two_users[0].name}", "component=singleuser-server")
    assert verdict(kube, proxy, 8888, alice), "proxy -> user server"
    assert verdict(kube, hub, 8888, alice), "hub -> user server"
    assert verdict(kube, alice, 8081, hub), "user server -> hub API"
    assert verdict(kube, proxy, 8081, hub), "proxy -> hub"
    assert verdict(kube, hub, 8001, proxy), "hub -> proxy API"
    assert verdict(kube, alice, 5000, mlflow), "user server -> MLflow"


def test_users_cannot_reach_each_other_the_metadata_endpoint_or_the_api(
    trial_release: Release, two_users: list[HubUser]
):
    kube = trial_release.kube
    alice = pod_in(kube, f"podlab-{two_users[0].name}", "component=singleuser-server")
    bob = pod_in(kube, f"podlab-{two_users[1].name}", "component=singleuser-server")
    assert not verdict(kube, alice, 8888, bob), "user -> another user's server"
    assert not verdict(kube, bob, 8888, alice), "user -> another user's server"
    assert not verdict(kube, alice, 80, ip=METADATA), "user -> instance metadata"
    assert not verdict(kube, alice, 443, ip=PRIVATE), "user -> the Kubernetes API's endpoints"
    assert not verdict(kube, alice, 5432, ip=PRIVATE), "user -> the hub's database"
    hub = pod_in(kube, trial_release.namespace, "app.kubernetes.io/component=hub")
    assert not verdict(
        kube, alice, 8001, (hub[0], pod_in(kube, hub[0], "app.kubernetes.io/component=proxy")[1])
    ), "user -> the proxy's API"
