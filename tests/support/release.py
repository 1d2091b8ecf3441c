"""A podlab release installed with `helm install` into the Kubernetes test bed, as an admin
would install it: the Secrets created by running the commands `helm install` prints when they
are missing (values filled in), the databases on a PostgreSQL reached by name, and the pods of
the chart run by the pod runner from the chart's own pod specs.

The database stands in for RDS: a PostgreSQL on this machine behind the selector-less Service
`rds.podlab-infra.svc` (`podlab.io/forward-to`, see podlab.localstack.kube.services).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from podlab.localstack.paths import REPO_ROOT, SETUP_HINT, tool
from podlab.localstack.postgres import PostgresServer
from tests.support.kube import KubeCluster, get_json

CHART = REPO_ROOT / "charts" / "podlab"
INFRA_NAMESPACE = "podlab-infra"
SECRET_COMMAND = re.compile(
    r"(kubectl -n \S+ create secret generic \S+(?: --from-literal=[\w-]+=\.\.\.)+)"
)
"""A command `helm install` prints for a missing Secret (templates/validate.yaml)."""


@dataclass
class Release:
    kube: KubeCluster
    name: str
    namespace: str
    postgres: PostgresServer

    def helm(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return run_helm(self.kube, *args, check=check, timeout=timeout)

    def service_ip(self, component: str) -> str:
        return str(
            get_json(self.kube, "service", f"{self.name}-{component}", "-n", self.namespace)[
                "spec"
            ]["clusterIP"]
        )

    def secret_value(self, secret: str, key: str) -> str:
        import base64

        data = get_json(self.kube, "secret", secret, "-n", self.namespace)["data"]
        return base64.b64decode(data[key]).decode()


def run_helm(
    kube: KubeCluster, *args: str, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """helm (tools/bin) against the bed; an AssertionError with its output when it fails."""
    state = kube.settings.state_dir
    env = {
        **os.environ,
        "KUBECONFIG": str(kube.kubeconfig),
        "HELM_CACHE_HOME": str(state / "helm-cache"),
        "HELM_CONFIG_HOME": str(state / "helm-config"),
        "HELM_DATA_HOME": str(state / "helm-data"),
    }
    try:
        proc = subprocess.run(
            [tool("helm"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
        )
    except FileNotFoundError:
        raise AssertionError(f"helm is not installed: {SETUP_HINT}") from None
    if check and proc.returncode != 0:
        raise AssertionError(
            f"helm {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def database_stand_in(
    kube: KubeCluster, postgres: PostgresServer, passwords: dict[str, str], service: str = "rds"
) -> str:
    """Roles and databases for the hub and MLflow, and `<service>.podlab-infra.svc` leading
    there (a managed database reached by name); returns that host name."""
    for user, password in passwords.items():
        if not postgres.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", params=(user,)):
            postgres.execute(f'CREATE ROLE "{user}" LOGIN')
        postgres.execute(f"ALTER ROLE \"{user}\" PASSWORD '{password}'")
        postgres.create_database(user)
        postgres.execute(f'ALTER DATABASE "{user}" OWNER TO "{user}"')
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": INFRA_NAMESPACE}})
    kube.apply({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": service, "namespace": INFRA_NAMESPACE,
                     "annotations": {"podlab.io/forward-to": f"{postgres.host}:{postgres.port}"}},
        "spec": {"ports": [{"port": 5432}]},
    })  # fmt: skip
    return f"{service}.{INFRA_NAMESPACE}.svc"


def missing_secret_commands(output: str) -> list[str]:
    """The `kubectl ... create secret ...` commands a refused `helm install` printed."""
    return SECRET_COMMAND.findall(output)


def create_secrets_as_printed(
    kube: KubeCluster, commands: Sequence[str], values: dict[tuple[str, str], str]
) -> None:
    """Run the printed commands with each `...` replaced by the value for (secret, key)."""
    for command in commands:
        words = shlex.split(command)
        secret = words[words.index("generic") + 1]
        filled = []
        for word in words[1:]:
            if word.startswith("--from-literal=") and word.endswith("=..."):
                key = word.removeprefix("--from-literal=").removesuffix("=...")
                word = f"--from-literal={key}={values[(secret, key)]}"
            filled.append(word)
        kube.kubectl(*filled)


def install(
    kube: KubeCluster,
    postgres: PostgresServer,
    name: str = "podlab",
    namespace: str = "podlab",
    extra: Sequence[str] = (),
    chart: Path = CHART,
    database: str = "rds",
) -> Release:
    """`helm install` as the admin guide says: first without the Secrets (helm names them and
    the commands to create them), then with them, `--wait`."""
    passwords = {"jupyterhub": "hub-db-secret", "mlflow": "mlflow-db-secret"}
    db_host = database_stand_in(kube, postgres, passwords, database)
    # As the admin guide asks: the release namespace enforces Pod Security `restricted`, so
    # the real admission checks every pod of the chart (Deployments, hook Jobs, test pods).
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted",
                           "pod-security.kubernetes.io/enforce-version": "latest"}}})  # fmt: skip
    args = ["install", name, str(chart), "--namespace", namespace, *extra]
    refused = run_helm(kube, *args, check=False)
    commands = missing_secret_commands(refused.stderr)
    if refused.returncode == 0 or not commands:
        raise AssertionError(f"expected helm to ask for the Secrets first:\n{refused.stderr}")
    values = {
        ("podlab-hub-db", "password"): passwords["jupyterhub"],
        ("podlab-hub-db", "host"): db_host,
        ("podlab-mlflow-db", "password"): passwords["mlflow"],
        ("podlab-mlflow-db", "host"): db_host,
        ("podlab-oidc", "client-secret"): "test-client-secret",
        ("podlab-oidc", "authorize-url"): "https://idp.podlab.test/authorize",
        ("podlab-oidc", "token-url"): "https://idp.podlab.test/token",
        ("podlab-oidc", "userdata-url"): "https://idp.podlab.test/userinfo",
        ("podlab-oidc", "client-id"): "podlab",
    }
    create_secrets_as_printed(kube, commands, values)
    run_helm(kube, *args, "--wait", "--timeout", "6m")
    return Release(kube, name, namespace, postgres)
