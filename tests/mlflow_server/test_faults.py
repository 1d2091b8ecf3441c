"""Restarts lose nothing: the server's, and PostgreSQL's under a client logging metrics."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from podlab.localstack.paths import REPO_ROOT
from podlab.localstack.postgres import PostgresServer
from tests.mlflow_server.stack_helpers import Stack, client_as
from tests.support.podlab_mlflow import PodlabMlflowServer


@dataclass
class Private:
    pg: PostgresServer
    server: PodlabMlflowServer
    stack: Stack


@pytest.fixture(scope="module")
def private(mlflow_stack, make_postgres, s3_server, component_log_dir):
    """A server on its own PostgreSQL cluster, which these tests stop and restart."""
    pg = make_postgres("mlflow-fault")
    server = PodlabMlflowServer(
        hub=mlflow_stack.hub,
        database_url=pg.create_database("mlflow_fault"),
        s3=s3_server,
        bucket="podlab-fault",
        log_dir=component_log_dir,
    )
    server.migrate()
    server.start()
    yield Private(pg, server, Stack(mlflow_stack.hub, server, mlflow_stack.tokens))
    server.stop()


def test_server_restart_keeps_runs_metrics_and_models(private, tmp_path):
    server, stack = private.server, private.stack
    artifact = tmp_path / "weights.bin"
    artifact.write_bytes(os.urandom(4096))
    with client_as(stack, "alice") as client:
        exp = client.create_experiment("restart")
        run_ids = []
        for i in range(3):
            run_id = client.create_run(exp).info.run_id
            for step in range(50):
                client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
            client.log_param(run_id, "lr", str(0.1 * (i + 1)))
            client.log_artifact(run_id, str(artifact), "model")
            run_ids.append(run_id)
        client.create_registered_model("restart-model")
        client.create_model_version("restart-model", f"runs:/{run_ids[0]}/model", run_id=run_ids[0])
    server.stop()
    server.start()
    with client_as(stack, "bob") as client:
        runs = client.search_runs([exp], max_results=100)
        assert sorted(r.info.run_id for r in runs) == sorted(run_ids)
        for run_id in run_ids:
            history = client.get_metric_history(run_id, "loss")
            assert sorted(m.step for m in history) == list(range(50))
            assert client.get_run(run_id).data.tags["mlflow.user"] == "alice"
        version = client.get_model_version("restart-model", "1")
        assert version.run_id == run_ids[0]
        local = client.download_artifacts(run_ids[0], "model/weights.bin", str(tmp_path / "d"))
        assert Path(local).read_bytes() == artifact.read_bytes()
    # Ownership survived too: Bob still cannot delete Alice's model.
    reply = stack.call(
        "DELETE", "/api/2.0/mlflow/registered-models/delete", "bob", {"name": "restart-model"}
    )
    assert reply.status_code == 403


CLIENT = r"""
import sys, time
from mlflow import MlflowClient
from mlflow.entities import Metric
client = MlflowClient()
exp = client.create_experiment("pg-restart")
run_id = client.create_run(exp).info.run_id
print(run_id, flush=True)
for batch in range(10):
    metrics = [
        Metric("loss", float(step), 1_700_000_000_000 + step, step)
        for step in range(batch * 1000, (batch + 1) * 1000)
    ]
    client.log_batch(run_id, metrics=metrics)
    print(f"batch {batch} done", flush=True)
    time.sleep(0.4)
"""


@pytest.mark.timeout(400)
def test_postgres_restart_while_logging_10000_metrics(private, mlflow_stack, component_log_dir):
    pg, server = private.pg, private.server
    env = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    env.update(server.env_for(mlflow_stack.tokens["alice"]))
    env["PYTHONPATH"] = str(REPO_ROOT)
    log = component_log_dir / "pg-restart-client.log"
    with open(log, "w") as out:
        client = subprocess.Popen(
            [sys.executable, "-c", CLIENT], env=env, stdout=subprocess.PIPE, stderr=out,
            text=True,
        )  # fmt: skip
        stdout = client.stdout
        assert stdout is not None
        run_id = stdout.readline().strip()
        assert run_id, log.read_text()
        for line in stdout:  # wait until some batches are in, then pull the plug
            if line.startswith("batch 2 done"):
                break
        pg.stop()
        time.sleep(3)
        pg.start()
        rest = stdout.read()
        assert client.wait(timeout=300) == 0, log.read_text()[-3000:]
    assert "batch 9 done" in rest
    rows = pg.execute(
        "SELECT count(*), count(DISTINCT step), min(step), max(step) FROM metrics "
        "WHERE run_uuid = %s",
        "mlflow_fault",
        (run_id,),
    )
    assert rows == [(10000, 10000, 0, 9999)]
    latest = pg.execute(
        "SELECT step FROM latest_metrics WHERE run_uuid = %s", "mlflow_fault", (run_id,)
    )
    assert latest == [(9999,)]
    # The server recovered by itself.
    reply = requests.get(
        f"{server.url}/api/2.0/mlflow/runs/get",
        params={"run_id": run_id},
        headers={"Authorization": f"Bearer {mlflow_stack.tokens['alice']}"},
        timeout=30,
    )
    assert reply.status_code == 200
