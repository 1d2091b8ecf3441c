"""The trial install the chart's minimal example documents, run as written on the test bed:

    helm install podlab charts/podlab -n podlab --create-namespace \
        -f charts/podlab/examples/minimal.yaml

Password login, the bundled PostgreSQL (its StatefulSet, Secret and init script) and MLflow
artifacts on a volume. The pod runner runs the official postgres image's part with this
machine's PostgreSQL (localstack/kube/stand_ins.py: its major version, not the image tag's).
"""

from __future__ import annotations

import base64

import psycopg2
import pytest
import yaml

from tests.support.kube import KubeCluster, get_json, new_namespace
from tests.support.release import CHART, run_helm

MINIMAL = CHART / "examples" / "minimal.yaml"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def test_the_minimal_example_installs_with_the_bundled_database_and_passes_helm_test(
    kube: KubeCluster,
):
    namespace = new_namespace(kube, "trial", labels=RESTRICTED)
    run_helm(kube, "install", "podlab", str(CHART), "-n", namespace, "-f", str(MINIMAL),
             "--wait", "--timeout", "6m")  # fmt: skip

    # The database ran the image's first start: initdb, the chart's init script, then postgres.
    log = kube.kubectl("logs", "podlab-postgresql-0", "-c", "postgresql", "-n", namespace)
    assert "running /docker-entrypoint-initdb.d/10-podlab-databases.sh" in log, log
    assert "PostgreSQL init process complete" in log, log

    # MLflow's init container migrated the new database (no hook can before the first install);
    # the hook Job is for upgrades.
    log = kube.kubectl("logs", "deployment/podlab-mlflow", "-c", "migrate", "-n", namespace)
    assert "schema migrated: MLflow revision empty ->" in log, log
    hooks = yaml.safe_load_all(run_helm(kube, "get", "hooks", "podlab", "-n", namespace).stdout)
    migrate = [h for h in hooks if h and h["kind"] == "Job"]
    assert [h["metadata"]["annotations"]["helm.sh/hook"] for h in migrate] == ["pre-upgrade"]

    # helm test: hub API with a scoped token, a spawn through the proxy, MLflow as a non-admin.
    proc = run_helm(kube, "test", "podlab", "-n", namespace, "--timeout", "6m", "--logs")
    assert "OK: helm test podlab passed" in proc.stdout, proc.stdout
    assert "/services/mlflow/ -> 200" in proc.stdout, proc.stdout

    # Both services keep their state in the bundled server, each in its own database, reached
    # with the generated password of the chart's Secret.
    secret = get_json(kube, "secret", "podlab-postgresql", "-n", namespace)["data"]
    password = base64.b64decode(secret["password"]).decode()
    pod_ip = get_json(kube, "pod", "podlab-postgresql-0", "-n", namespace)["status"]["podIP"]
    for user, database, query in (
        ("jupyterhub", "jupyterhub", "SELECT name FROM users"),
        ("mlflow", "mlflow", "SELECT version_num FROM alembic_version"),
    ):
        conn = psycopg2.connect(host=pod_ip, port=5432, user=user, password=password,
                                dbname=database, connect_timeout=10)  # fmt: skip
        try:
            with conn.cursor() as cur:
                cur.execute(query)
                rows = [row[0] for row in cur.fetchall()]
        finally:
            conn.close()
        assert rows, (database, query)
        if database == "jupyterhub":
            assert "podlab-helm-test" in rows
    # Password authentication is enforced over TCP (the image's scram-sha-256 rule).
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(host=pod_ip, port=5432, user="postgres", password="wrong",
                         dbname="postgres", connect_timeout=10).close()  # fmt: skip
