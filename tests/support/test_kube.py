"""The Kubernetes test bed against itself: a real API server with the real admission chain,
RBAC, TokenRequest, the scheduler on kwok nodes (one with GPUs), volumes that bind, and the
pod runner that really runs pods (HTTP at the pod IP, Jobs, exec, logs, port-forward)."""

from __future__ import annotations

import functools
import io
import ipaddress
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from podlab.localstack.paths import REPO_ROOT
from podlab.localstack.process import free_port
from tests.support.kube import (
    KubeCluster,
    KubeError,
    KubeSettings,
    Ports,
    api_client,
    get_json,
    new_namespace,
    running_cluster,
    topology,
    wait_for,
)

RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}
RUN_LOCAL = {topology.RUNNER_LABEL: "local"}
COMPLIANT_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def pod(
    name: str,
    command: list[str] | None = None,
    *,
    labels: dict[str, str] | None = None,
    security: dict[str, Any] | None = None,
    resources: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "busybox:1.36"}
    if command:
        container["command"] = command
    if security is not None:
        container["securityContext"] = security
    if resources is not None:
        container["resources"] = resources
    for key in ("ports", "readinessProbe", "volumeMounts", "env", "workingDir"):
        if key in spec:
            container[key] = spec.pop(key)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 5, **spec},
    }


def create(
    kube: KubeCluster, namespace: str, obj: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """`kubectl create` as the admin; the result, so a test can read a refusal."""
    return subprocess.run(
        [
            str(kube.settings.bin_dir / "kubectl"),
            f"--kubeconfig={kube.kubeconfig}",
            "-n",
            namespace,
            "create",
            "-f",
            "-",
        ],
        input=json.dumps(obj),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def phase(kube: KubeCluster, namespace: str, name: str) -> str:
    return str(get_json(kube, "pod", name, "-n", namespace).get("status", {}).get("phase"))


def ended(kube: KubeCluster, namespace: str, name: str) -> bool:
    return phase(kube, namespace, name) in ("Succeeded", "Failed")


# -- the cluster itself -------------------------------------------------------------------------
def test_server_is_kubernetes_1_34(kube: KubeCluster):
    version = kubernetes.client.VersionApi(api_client(kube)).get_code()
    assert version.git_version.startswith("v1.34."), version.git_version
    assert (version.major, version.minor) == ("1", "34")


def test_every_address_is_on_loopback(kube: KubeCluster):
    loopback = ipaddress.IPv4Network("127.0.0.0/8")
    pods, runner = (
        ipaddress.IPv4Network(kube.plan.pod_cidr),
        ipaddress.IPv4Network(kube.plan.runner_cidr),
    )
    assert runner.subnet_of(pods)
    assert pods.subnet_of(loopback)
    assert ipaddress.IPv4Network(kube.plan.service_cidr).subnet_of(loopback)
    for node in get_json(kube, "nodes")["items"]:
        cidr = ipaddress.IPv4Network(node["spec"]["podCIDR"])
        assert cidr.subnet_of(pods), node["metadata"]["name"]
        assert not cidr.overlaps(runner), node["metadata"]["name"]
        for address in node["status"]["addresses"]:
            if address["type"] == "InternalIP":
                assert ipaddress.ip_address(address["address"]) in loopback
    service = get_json(kube, "service", "kubernetes", "-n", "default")
    assert service["spec"]["clusterIP"] == kube.plan.service_ip()
    assert ipaddress.ip_address(service["spec"]["clusterIP"]) in loopback
    # Every port a component listens on is bound to 127.0.0.1 only.
    listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    pids = {str(p.pid) for p in kube.processes.values() if p.pid}
    for line in listening.splitlines():
        if any(f"pid={pid}," in line for pid in pids):
            local = line.split()[3]
            assert local.startswith(("127.", "[::ffff:127.")), line


def test_nodes_mirror_the_eks_node_groups(kube: KubeCluster):
    nodes = {n["metadata"]["name"]: n for n in get_json(kube, "nodes")["items"]}
    assert set(nodes) == {n.name for n in topology.NODES}
    for node in nodes.values():
        assert any(
            c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"]
        )
        assert node["metadata"]["labels"]["topology.kubernetes.io/zone"]
    gpu = nodes["gpu-a"]
    assert gpu["status"]["allocatable"]["nvidia.com/gpu"] == "4"
    assert gpu["metadata"]["labels"][topology.POOL_LABEL] == "gpu"
    assert gpu["spec"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
    ]
    for name in ("cpu-a", "cpu-b"):
        assert nodes[name]["status"]["allocatable"]["cpu"] == "8"
        assert nodes[name]["status"]["allocatable"]["memory"] == "32Gi"


# -- admission ----------------------------------------------------------------------------------
def test_pod_security_restricted_is_enforced(kube: KubeCluster):
    namespace = new_namespace(kube, "psa", RESTRICTED)
    refused = create(kube, namespace, pod("root", ["sleep", "1"]))
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in refused.stderr
    assert "allowPrivilegeEscalation != false" in refused.stderr
    admitted = create(
        kube, namespace, pod("compliant", ["sleep", "1"], security=COMPLIANT_SECURITY)
    )
    assert admitted.returncode == 0, admitted.stderr


def test_resource_quota_rejects_a_pod_over_it(kube: KubeCluster):
    namespace = new_namespace(kube, "quota")
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "user", "namespace": namespace},
            "spec": {"hard": {"limits.cpu": "2", "limits.memory": "4Gi"}},
        }
    )
    wait_for(
        "the quota to be counted",
        lambda: (
            get_json(kube, "resourcequota", "user", "-n", namespace).get("status", {}).get("hard")
        ),
    )
    small = {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}
    big = {"limits": {"cpu": "4", "memory": "8Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}
    assert create(kube, namespace, pod("small", ["sleep", "1"], resources=small)).returncode == 0
    refused = create(kube, namespace, pod("big", ["sleep", "1"], resources=big))
    assert refused.returncode != 0
    assert "exceeded quota: user" in refused.stderr
    assert "limits.cpu=4" in refused.stderr


def test_limit_range_fills_in_defaults_and_rejects_over_its_max(kube: KubeCluster):
    namespace = new_namespace(kube, "limits")
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "user", "namespace": namespace},
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "default": {"cpu": "500m", "memory": "512Mi"},
                        "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                        "max": {"cpu": "2", "memory": "4Gi"},
                    }
                ]
            },
        }
    )
    assert create(kube, namespace, pod("plain", ["sleep", "1"])).returncode == 0
    resources = get_json(kube, "pod", "plain", "-n", namespace)["spec"]["containers"][0][
        "resources"
    ]
    assert resources == {
        "limits": {"cpu": "500m", "memory": "512Mi"},
        "requests": {"cpu": "100m", "memory": "128Mi"},
    }
    big = {"limits": {"cpu": "3", "memory": "1Gi"}}
    refused = create(kube, namespace, pod("big", ["sleep", "1"], resources=big))
    assert refused.returncode != 0
    assert "maximum cpu usage per Container is 2, but limit is 3" in refused.stderr


def test_service_account_cannot_list_pods_in_another_namespace(kube: KubeCluster):
    home, other = new_namespace(kube, "rbac-home"), new_namespace(kube, "rbac-other")
    kube.kubectl("create", "serviceaccount", "user", "-n", home)
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "pods", "namespace": home},
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "pods", "namespace": home},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pods"},
            "subjects": [{"kind": "ServiceAccount", "name": "user", "namespace": home}],
        },
    )
    token = kube.kubectl("create", "token", "user", "-n", home, "--duration=10m").strip()
    core = kubernetes.client.CoreV1Api(api_client(kube, token))
    assert core.list_namespaced_pod(home).items == []
    with pytest.raises(kubernetes.client.ApiException) as refused:
        core.list_namespaced_pod(other)
    assert refused.value.status == 403
    message = json.loads(str(refused.value.body))["message"]
    assert f'"system:serviceaccount:{home}:user" cannot list resource "pods"' in message
    assert f'in the namespace "{other}"' in message


# -- scheduling on kwok nodes -------------------------------------------------------------------
def gpu_pod(name: str) -> dict[str, Any]:
    spec = pod(name, ["sleep", "infinity"], resources={"limits": {"nvidia.com/gpu": "1"}})
    spec["spec"]["tolerations"] = [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    spec["spec"]["nodeSelector"] = {topology.POOL_LABEL: "gpu"}
    return spec


def test_gpu_pods_fill_the_gpu_node_and_the_fifth_waits(kube: KubeCluster):
    namespace = new_namespace(kube, "gpu")
    for index in range(4):
        assert create(kube, namespace, gpu_pod(f"train-{index}")).returncode == 0
    for index in range(4):
        wait_for(
            f"train-{index} Running",
            lambda i=index: phase(kube, namespace, f"train-{i}") == "Running",  # type: ignore[misc]
        )
        assert (
            get_json(kube, "pod", f"train-{index}", "-n", namespace)["spec"]["nodeName"] == "gpu-a"
        )
    assert create(kube, namespace, gpu_pod("train-4")).returncode == 0

    def unschedulable() -> str | None:
        events = get_json(
            kube, "events", "-n", namespace, "--field-selector", "involvedObject.name=train-4"
        )
        return next(
            (e["message"] for e in events["items"] if e["reason"] == "FailedScheduling"), None
        )

    message = wait_for("the fifth GPU pod's FailedScheduling event", unschedulable, timeout=30)
    assert "Insufficient nvidia.com/gpu" in message
    assert phase(kube, namespace, "train-4") == "Pending"
    # Without the toleration a GPU pod cannot go anywhere: the CPU nodes have no GPUs.
    untolerated = gpu_pod("no-toleration")
    del untolerated["spec"]["tolerations"], untolerated["spec"]["nodeSelector"]
    kube.kubectl("delete", "pod", "train-0", "-n", namespace, "--wait=true")
    assert create(kube, namespace, untolerated).returncode == 0
    wait_for(
        "train-4 to take the freed GPU", lambda: phase(kube, namespace, "train-4") == "Running"
    )
    assert phase(kube, namespace, "no-toleration") == "Pending"


# -- the pod runner -----------------------------------------------------------------------------
def http_pod(
    name: str,
    volumes: list[dict[str, Any]] | None = None,
    mounts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    script = (
        "import http.server, os, socketserver\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        env = os.environ\n"
        "        body = f\"{env['POD_NAME']} {env['POD_IP']} {os.getuid()}\".encode()\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers(); self.wfile.write(body)\n"
        "socketserver.TCPServer(('0.0.0.0', 8080), H).serve_forever()\n"
    )
    manifest = pod(
        name,
        ["python", "-c", script],
        labels=RUN_LOCAL,
        security=COMPLIANT_SECURITY,
        ports=[{"name": "http", "containerPort": 8080}],
        readinessProbe={"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 10},
        env=[
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
        volumeMounts=mounts or [],
        volumes=volumes or [],
    )
    return manifest


def ready_ip(kube: KubeCluster, namespace: str, name: str) -> str:
    def ready() -> str | None:
        status = get_json(kube, "pod", name, "-n", namespace).get("status", {})
        conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
        return status.get("podIP") if conditions.get("Ready") == "True" else None

    return str(wait_for(f"{name} Ready", ready, timeout=90))


def test_runner_pod_serves_http_at_its_pod_ip(kube: KubeCluster):
    namespace = new_namespace(kube, "http", RESTRICTED)
    for name in ("web-1", "web-2"):  # both listen on 0.0.0.0:8080: each gets its own IP
        assert create(kube, namespace, http_pod(name)).returncode == 0
    for name in ("web-1", "web-2"):
        ip = ready_ip(kube, namespace, name)
        assert ipaddress.ip_address(ip) in ipaddress.ip_network(kube.plan.runner_cidr)
        with urllib.request.urlopen(f"http://{ip}:8080/", timeout=5) as response:
            assert response.read().decode() == f"{name} {ip} 1000"
    logs = kube.kubectl("logs", "web-1", "-n", namespace)
    assert '"GET / HTTP/1.1" 200' in logs
    # Deleting the pod stops its process: the address no longer answers.
    ip = get_json(kube, "pod", "web-1", "-n", namespace)["status"]["podIP"]
    kube.kubectl("delete", "pod", "web-1", "-n", namespace, "--wait=true", "--timeout=60s")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ip, 8080), timeout=2)


def test_kubectl_exec_and_port_forward_reach_the_runner_pod(kube: KubeCluster):
    namespace = new_namespace(kube, "exec", RESTRICTED)
    volumes = [{"name": "conf", "configMap": {"name": "settings"}}]
    mounts = [{"name": "conf", "mountPath": "/etc/podlab-test"}]
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": namespace},
            "data": {"greeting": "hello from the ConfigMap"},
        }
    )
    assert create(kube, namespace, http_pod("shell", volumes, mounts)).returncode == 0
    ready_ip(kube, namespace, "shell")
    out = kube.kubectl(
        "exec",
        "shell",
        "-n",
        namespace,
        "--",
        "sh",
        "-c",
        'id -u; echo "$POD_NAME"; cat /etc/podlab-test/greeting',
    )
    assert out.split("\n")[:3] == ["1000", "shell", "hello from the ConfigMap"]
    # The mount exists only inside the pod, not on this machine.
    assert not Path("/etc/podlab-test/greeting").exists()
    local = socket.socket()
    local.bind(("127.0.0.1", 0))
    port = local.getsockname()[1]
    local.close()
    forward = subprocess.Popen(
        [
            str(kube.settings.bin_dir / "kubectl"),
            f"--kubeconfig={kube.kubeconfig}",
            "-n",
            namespace,
            "port-forward",
            "pod/shell",
            f"{port}:8080",
            "--address=127.0.0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def answer() -> str | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as response:
                    return str(response.read().decode())
            except OSError:
                return None

        assert wait_for("the port-forward", answer, timeout=30).startswith("shell ")
    finally:
        forward.terminate()
        forward.wait(timeout=10)


def test_pods_reach_services_by_name_and_the_api_server_as_in_a_cluster(kube: KubeCluster):
    """A Service leads to a ready pod it selects (round robin over the runner's pods), by its
    short name in the pod's namespace and its long name from another; the `kubernetes`
    Service leads to the API server, verified with the pod's CA and token."""
    namespace, other = new_namespace(kube, "svc", RESTRICTED), new_namespace(kube, "svc-client")
    for name in ("web-a", "web-b"):
        manifest = http_pod(name)
        manifest["metadata"]["labels"]["app"] = "web"
        assert create(kube, namespace, manifest).returncode == 0
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
        }
    )
    for name in ("web-a", "web-b"):
        ready_ip(kube, namespace, name)
    script = (
        "import json, os, ssl, urllib.request\n"
        "seen = set()\n"
        "for url in URLS * 4:\n"
        "    seen.add(urllib.request.urlopen(url, timeout=5).read().decode().split()[0])\n"
        "print(sorted(seen))\n"
        "sa = '/var/run/secrets/kubernetes.io/serviceaccount'\n"
        "context = ssl.create_default_context(cafile=sa + '/ca.crt')\n"
        "token = open(sa + '/token').read()\n"
        "api = f\"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}\"\n"
        "headers = {'Authorization': 'Bearer ' + token}\n"
        "request = urllib.request.Request(api + '/version', headers=headers)\n"
        "print(json.load(urllib.request.urlopen(request, context=context))['gitVersion'])\n"
    )
    for client_namespace, url in (
        (namespace, "http://web/"),
        (other, f"http://web.{namespace}.svc/"),
    ):
        client = pod(
            "client",
            ["python", "-c", script.replace("URLS", repr([url]))],
            labels=RUN_LOCAL,
            security=COMPLIANT_SECURITY,
            restartPolicy="Never",
        )
        assert create(kube, client_namespace, client).returncode == 0
        wait_for(
            f"the client in {client_namespace}",
            functools.partial(ended, kube, client_namespace, "client"),
            timeout=90,
        )
        logs = kube.kubectl("logs", "client", "-n", client_namespace)
        assert phase(kube, client_namespace, "client") == "Succeeded", logs
        assert logs.split("\n")[:2] == ["['web-a', 'web-b']", "v1.34.4"]


def test_a_podlab_image_runs_as_its_dockerfile_says(kube: KubeCluster):
    """No command: the image's ENTRYPOINT (tini, podlab-entrypoint.sh) runs the pod's args,
    as its USER, in its WORKDIR (made for the pod, not on this machine), with its ENV, the
    files its final stage copies from the repository and /opt/venv = the project's venv."""
    namespace = new_namespace(kube, "image")  # hostPath: not in a restricted namespace
    script = (
        "id -u; id -g; pwd; echo $HOME; "
        "cmp /usr/local/lib/podlab/startup.py /src/startup.py && echo same-startup; "
        "command -v jupyterhub-singleuser"
    )
    manifest = pod("su", None, labels=RUN_LOCAL, restartPolicy="Never")
    container = manifest["spec"]["containers"][0]
    container.update(
        image="registry.example/podlab/singleuser:0.1.0",
        args=["sh", "-c", script],
        securityContext={k: v for k, v in COMPLIANT_SECURITY.items() if k != "runAsUser"},
        volumeMounts=[{"name": "src", "mountPath": "/src", "readOnly": True}],
    )
    startup = REPO_ROOT / "hub" / "src" / "podlab" / "startup.py"
    manifest["spec"]["volumes"] = [{"name": "src", "hostPath": {"path": str(startup.parent)}}]
    assert create(kube, namespace, manifest).returncode == 0
    wait_for("the pod to finish", lambda: phase(kube, namespace, "su") in ("Succeeded", "Failed"))
    logs = kube.kubectl("logs", "su", "-n", namespace)
    lines = [
        line for line in logs.splitlines() if not line.startswith(("[WARN", "Zombie", "To fix"))
    ]
    assert lines == ["1000", "100", "/home/jovyan", "/home/jovyan", "same-startup",
                     "/opt/venv/bin/jupyterhub-singleuser"], logs  # fmt: skip
    assert not Path("/home/jovyan").exists()


def test_a_service_can_stand_for_a_server_on_this_machine(kube: KubeCluster, tmp_path: Path):
    """A selector-less Service annotated podlab.io/forward-to (loopback only) leads to a server
    of this machine, as a managed database is reached by name on EKS; any other address is
    ignored."""
    (tmp_path / "index.html").write_text("from the machine")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        namespace = new_namespace(kube, "forward")
        for name, target in (("db", f"127.0.0.1:{port}"), ("elsewhere", f"192.0.2.1:{port}")):
            kube.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {
                        "name": name,
                        "namespace": namespace,
                        "annotations": {"podlab.io/forward-to": target},
                    },
                    "spec": {"ports": [{"port": 80}]},
                }
            )
        script = (
            "import urllib.request\n"
            "print(urllib.request.urlopen('http://db/', timeout=5).read().decode())\n"
            "try:\n"
            "    urllib.request.urlopen('http://elsewhere/', timeout=5)\n"
            "except OSError as err:\n"
            "    print('refused', type(err).__name__)\n"
        )
        client = pod("client", ["python", "-c", script], labels=RUN_LOCAL, restartPolicy="Never")
        assert create(kube, namespace, client).returncode == 0
        wait_for("the client", functools.partial(ended, kube, namespace, "client"), timeout=60)
        logs = kube.kubectl("logs", "client", "-n", namespace)
        assert logs.splitlines()[0] == "from the machine", logs
        assert logs.splitlines()[1].startswith("refused"), logs
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_job_run_by_the_runner_completes_and_a_failing_one_fails(kube: KubeCluster):
    namespace = new_namespace(kube, "job")
    for name, code in (("ok", 0), ("broken", 3)):
        kube.apply(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "metadata": {"labels": RUN_LOCAL},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {
                                    "name": "main",
                                    "image": "python:3.12",
                                    "command": [
                                        "python",
                                        "-c",
                                        f"import sys; print('job {name} ran'); sys.exit({code})",
                                    ],
                                }
                            ],
                        },
                    },
                },
            }
        )
    kube.kubectl("wait", "job/ok", "-n", namespace, "--for=condition=Complete", "--timeout=90s")
    kube.kubectl("wait", "job/broken", "-n", namespace, "--for=condition=Failed", "--timeout=90s")
    assert "job ok ran" in kube.kubectl("logs", "job/ok", "-n", namespace)
    pods = get_json(kube, "pods", "-n", namespace, "-l", "job-name=broken")["items"]
    terminated = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")


def test_claim_binds_outlives_its_pod_and_is_reused(kube: KubeCluster):
    namespace = new_namespace(kube, "pvc", RESTRICTED)
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "home", "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )
    claim = get_json(kube, "pvc", "home", "-n", namespace)
    assert claim["spec"]["storageClassName"] == topology.STORAGE_CLASS  # the default class
    assert claim["status"]["phase"] == "Pending"  # WaitForFirstConsumer: no pod yet
    volumes = [{"name": "home", "persistentVolumeClaim": {"claimName": "home"}}]
    mounts = [{"name": "home", "mountPath": "/home/jovyan"}]

    def writer(name: str, command: str) -> dict[str, Any]:
        manifest = pod(
            name,
            ["sh", "-c", command],
            labels=RUN_LOCAL,
            security=COMPLIANT_SECURITY,
            volumeMounts=mounts,
            volumes=volumes,
            restartPolicy="Never",
        )
        manifest["spec"]["securityContext"] = {"fsGroup": 100}
        return manifest

    assert (
        create(kube, namespace, writer("first", "echo kept > /home/jovyan/notes.txt")).returncode
        == 0
    )
    wait_for(
        "the first pod to finish",
        lambda: phase(kube, namespace, "first") == "Succeeded",
        timeout=90,
    )
    bound = get_json(kube, "pvc", "home", "-n", namespace)
    assert bound["status"]["phase"] == "Bound"
    volume = get_json(kube, "pv", bound["spec"]["volumeName"])
    node = get_json(kube, "pod", "first", "-n", namespace)["spec"]["nodeName"]
    assert volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][
        0
    ]["values"] == [node]
    kube.kubectl("delete", "pod", "first", "-n", namespace, "--wait=true")
    assert get_json(kube, "pvc", "home", "-n", namespace)["status"]["phase"] == "Bound"
    assert create(kube, namespace, writer("second", "cat /home/jovyan/notes.txt")).returncode == 0
    wait_for(
        "the second pod to finish",
        lambda: phase(kube, namespace, "second") == "Succeeded",
        timeout=90,
    )
    assert kube.kubectl("logs", "second", "-n", namespace).strip() == "kept"
    assert get_json(kube, "pod", "second", "-n", namespace)["spec"]["nodeName"] == node
    # Deleting the claim releases and removes the volume and its folder.
    folder = Path(volume["spec"]["local"]["path"])
    assert folder.is_dir()
    kube.kubectl("delete", "pod", "second", "-n", namespace, "--wait=true")
    kube.kubectl("delete", "pvc", "home", "-n", namespace, "--wait=true")
    wait_for(
        "the volume to be deleted",
        lambda: (
            not kube.kubectl(
                "get", "pv", bound["spec"]["volumeName"], "--ignore-not-found", "-o", "name"
            ).strip()
        ),
    )
    assert not folder.exists()


def test_service_account_token_is_bound_to_the_pod(kube: KubeCluster):
    """The projected token the runner writes is a real TokenRequest bound to the pod: it works
    while the pod exists and stops working once the pod is deleted."""
    namespace = new_namespace(kube, "token", RESTRICTED)
    token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    script = f"import time; print(open({token_file!r}).read(), flush=True); time.sleep(3600)"
    manifest = pod(
        "reader", ["python", "-c", script], labels=RUN_LOCAL, security=COMPLIANT_SECURITY
    )
    assert create(kube, namespace, manifest).returncode == 0
    token = wait_for(
        "the token in the logs",
        lambda: kube.kubectl("logs", "reader", "-n", namespace, check=False).strip(),
    )
    review = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token},
    }
    answer = json.loads(
        kube.kubectl("create", "-o", "json", "-f", "-", input_text=json.dumps(review))
    )
    assert answer["status"]["authenticated"] is True
    assert answer["status"]["user"]["username"] == f"system:serviceaccount:{namespace}:default"
    assert answer["status"]["user"]["extra"]["authentication.kubernetes.io/pod-name"] == ["reader"]
    kube.kubectl("delete", "pod", "reader", "-n", namespace, "--wait=true")

    def refused() -> bool:  # the API server caches a good token for up to 10 s
        answer = json.loads(
            kube.kubectl("create", "-o", "json", "-f", "-", input_text=json.dumps(review))
        )
        return answer["status"].get("authenticated") is not True

    wait_for("the token of the deleted pod to be refused", refused, timeout=30, every=1)


# -- failure paths ------------------------------------------------------------------------------
def test_a_port_in_use_is_named_with_what_to_do(work_root: Path, kube: KubeCluster):
    settings = KubeSettings(state_dir=work_root / "kube-port", ports=Ports.free(), pid_files=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", settings.ports.apiserver))
        taken.listen(1)
        with pytest.raises(KubeError) as err:
            KubeCluster(settings).up()
    assert f"kube-apiserver: port {settings.ports.apiserver} on 127.0.0.1 is already in use" in str(
        err.value
    )
    assert "make kube-down" in str(err.value)


def test_beds_on_one_machine_never_share_addresses(work_root: Path, kube: KubeCluster):
    """A second bed (e.g. `make kube-up` during a test run) takes the next free address plan;
    asking for a plan another bed holds is refused before anything starts."""
    taken = KubeSettings(
        state_dir=work_root / "kube-taken",
        ports=Ports.free(),
        pid_files=False,
        plan_index=kube.plan.index,
    )
    with pytest.raises(KubeError, match=r"held by another bed on this machine"):
        KubeCluster(taken).up()
    second = KubeSettings(state_dir=work_root / "kube-second", ports=Ports.free(), pid_files=False)
    with running_cluster(second, out=io.StringIO()) as other:
        assert other.plan.index != kube.plan.index
        mine = ipaddress.IPv4Network(kube.plan.pod_cidr)
        assert not mine.overlaps(ipaddress.IPv4Network(other.plan.pod_cidr))
        service = get_json(other, "service", "kubernetes", "-n", "default")
        assert service["spec"]["clusterIP"] == other.plan.service_ip() != kube.plan.service_ip()


def test_a_missing_binary_says_how_to_build_it(work_root: Path, tmp_path: Path):
    settings = KubeSettings(
        state_dir=work_root / "kube-missing", ports=Ports.free(), pid_files=False, bin_dir=tmp_path
    )
    with pytest.raises(KubeError, match=r"etcd is not built: run `make setup`"):
        KubeCluster(settings).up()


def test_a_component_that_dies_is_reported_and_everything_is_stopped(
    work_root: Path, tmp_path: Path, kube: KubeCluster
):
    """A kube-apiserver that exits at once (here: a broken flag) fails `up` with its log, and
    etcd, already started, is stopped again."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("etcd", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl"):
        (bin_dir / name).symlink_to(kube.settings.bin_dir / name)
    (bin_dir / "kube-apiserver").write_text(
        f'#!/bin/sh\nexec {kube.settings.bin_dir / "kube-apiserver"} --no-such-flag "$@"\n'
    )
    (bin_dir / "kube-apiserver").chmod(0o755)
    settings = KubeSettings(
        state_dir=work_root / "kube-dies",
        ports=Ports.free(),
        pid_files=False,
        bin_dir=bin_dir,
        logs=tmp_path / "logs",
    )
    cluster = KubeCluster(settings)
    with pytest.raises(KubeError) as err:
        cluster.up()
    assert "kube-apiserver: exited with code" in str(err.value)
    assert "unknown flag: --no-such-flag" in str(err.value)
    assert not cluster.processes
    time.sleep(0.5)
    assert not _listening(settings.ports.etcd)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
