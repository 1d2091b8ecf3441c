"""The bundled trial database's init script, run against a real PostgreSQL.

The official postgres image runs /docker-entrypoint-initdb.d/*.sh once, on an empty data
directory, with POSTGRES_USER and the container's environment. The test extracts the script
from the rendered ConfigMap and runs it the same way (bash, psql on PATH, the Secret's
password in PODLAB_PASSWORD), twice: the hub and MLflow users and databases must exist, be
owned by their users (who can then create their schemas), and a second run must change
nothing.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import pytest

from podlab.localstack.postgres import PostgresServer
from tests.chart.helm import by_component, render_example


@pytest.fixture(scope="module")
def server(make_postgres: Callable[[str], PostgresServer]) -> PostgresServer:
    return make_postgres("chart-bundled")


def _run_init_script(server: PostgresServer, script: str) -> None:
    env = {
        **os.environ,
        "PATH": f"{server.bin}:{os.environ['PATH']}",
        "POSTGRES_USER": server.user,
        "PODLAB_PASSWORD": "trial-password-from-the-secret",
        "PGHOST": server.host,
        "PGPORT": str(server.port),
    }
    result = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_init_script_creates_both_databases_idempotently(server):
    import psycopg2

    objects = render_example("minimal")
    configmap = by_component(objects, "ConfigMap", "postgresql")
    ((name, script),) = configmap["data"].items()
    assert name.endswith(".sh")
    statefulset = by_component(objects, "StatefulSet", "postgresql")
    mounts = statefulset["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": "init", "mountPath": "/docker-entrypoint-initdb.d", "readOnly": True} in mounts

    for _run in range(2):
        _run_init_script(server, script)

    owners = dict(
        server.execute(
            "SELECT d.datname, r.rolname FROM pg_database d JOIN pg_roles r "
            "ON d.datdba = r.oid WHERE d.datname IN ('jupyterhub', 'mlflow')"
        )
    )
    assert owners == {"jupyterhub": "jupyterhub", "mlflow": "mlflow"}
    with_password = server.execute(
        "SELECT rolname FROM pg_authid WHERE rolname IN ('jupyterhub', 'mlflow') "
        "AND rolcanlogin AND rolpassword IS NOT NULL ORDER BY rolname"
    )
    assert with_password == [("jupyterhub",), ("mlflow",)]
    for user in ("jupyterhub", "mlflow"):
        conn = psycopg2.connect(
            host=server.host, port=server.port, user=user, dbname=user, connect_timeout=5
        )
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE schema_probe (id integer)")
                cur.execute("DROP TABLE schema_probe")
        finally:
            conn.close()
