"""MLflow's own client against podlab's server and stock `mlflow server`, in the same run.

Both servers use the same PostgreSQL cluster and S3 server. For every operation family a
user relies on (tests/mlflow_server/families.py: experiments, runs, artifacts, the registry
with model loading, traces and OTLP spans, assessments, datasets, scorers, prompts, GenAI
evaluation, logged models, the UI's GraphQL, custom artifact locations, the Default
experiment) the client must observe the same results from both: deny by default must not
refuse what a user does with their own things, and never change what an allowed call does.
Where stock MLflow answers a malformed request or a missing artifact with a 500, podlab
answers 400 or 404 with a message that says what is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from podlab.localstack.postgres import PostgresServer
from podlab.localstack.s3 import S3Server
from tests.mlflow_server.families import FAMILIES
from tests.mlflow_server.stack_helpers import Stack, client_as, client_at
from tests.support.mlflow import MlflowServer


@pytest.fixture(scope="module")
def stock(postgres: PostgresServer, s3_server: S3Server, component_log_dir: Path) -> Iterator[str]:
    """Stock `mlflow server` (PostgreSQL, artifacts proxied to the same S3 server)."""
    postgres.drop_database("mlflow_stock_side")
    bucket = s3_server.create_bucket("stock-side")
    server = MlflowServer(
        backend_store_uri=postgres.create_database("mlflow_stock_side"),
        artifacts_destination=f"s3://{bucket}/stock",
        log_dir=component_log_dir,
        env=s3_server.env,
    )
    server.log_path = component_log_dir / "mlflow-server-stock.log"
    server.start(start_timeout=240)
    yield server.url
    server.stop()


@pytest.fixture(autouse=True)
def _no_background_uploads(monkeypatch: pytest.MonkeyPatch) -> None:
    """envlogger's background upload would add files at an unpredictable moment."""
    monkeypatch.setenv("ENVLOGGER_DISABLE", "1")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_client_sees_the_same_results(family, mlflow_stack, stock, tmp_path):
    run = FAMILIES[family]
    with client_as(mlflow_stack, "alice") as client:
        podlab = run(client, tmp_path / "podlab")
    with client_at(stock, None) as client:
        expected = run(client, tmp_path / "stock")
    assert podlab == expected


def test_runs_are_stamped_with_the_hub_user_where_stock_trusts_the_client(mlflow_stack, stock):
    import mlflow

    for url, token, expected in (
        (mlflow_stack.url, mlflow_stack.tokens["alice"], "alice"),
        (stock, None, "mallory"),
    ):
        with client_at(url, token) as client:
            exp = client.create_experiment(f"stamp-{os.urandom(4).hex()}")
            with mlflow.start_run(experiment_id=exp, tags={"mlflow.user": "mallory"}) as run:
                pass
            assert client.get_run(run.info.run_id).data.tags["mlflow.user"] == expected


def test_a_missing_artifact_is_404_where_stock_answers_500(mlflow_stack, stock, tmp_path):
    from mlflow.exceptions import MlflowException

    answers = {}
    for name, url, token in (
        ("podlab", mlflow_stack.url, mlflow_stack.tokens["alice"]),
        ("stock", stock, None),
    ):
        with client_at(url, token) as client:
            run = client.create_run(client.create_experiment(f"m-{os.urandom(4).hex()}"))
            with pytest.raises(MlflowException, match=r"never-uploaded\.bin"):
                client.download_artifacts(run.info.run_id, "never-uploaded.bin", str(tmp_path))
        root = run.info.artifact_uri.removeprefix("mlflow-artifacts:").lstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        answers[name] = requests.get(
            f"{url}/api/2.0/mlflow-artifacts/artifacts/{root}/never-uploaded.bin",
            headers=headers,
            timeout=30,
        )
    assert answers["stock"].status_code == 500, answers["stock"].text[:300]
    assert answers["podlab"].status_code == 404, answers["podlab"].text[:300]
    assert answers["podlab"].json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize("stack_name", ["mlflow_stack", "volume_stack"])
def test_missing_artifacts_are_404_on_every_read_path(stack_name, request):
    stack: Stack = request.getfixturevalue(stack_name)
    with client_as(stack, "alice") as client:
        run = client.create_run(client.create_experiment(f"m-{os.urandom(4).hex()}"))
    root = run.info.artifact_uri.removeprefix("mlflow-artifacts:").lstrip("/")
    for path, params in [
        (f"/api/2.0/mlflow-artifacts/artifacts/{root}/nope.bin", None),
        (f"/ajax-api/2.0/mlflow-artifacts/artifacts/{root}/nope.bin", None),
        ("/get-artifact", {"run_uuid": run.info.run_id, "path": "nope.bin"}),
    ]:
        reply = stack.call("GET", path, "bob", params)
        assert reply.status_code == 404, (path, reply.status_code, reply.text[:300])
        body = reply.json()
        assert body["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert "nope.bin" in body["message"]


MALFORMED: list[tuple[str, str, dict[str, str] | None, bytes | None]] = [
    # (method, path, query, raw JSON body): stock MLflow fails on these with a 500 or an
    # HTML page; podlab says in MLflow's JSON what is wrong.
    ("POST", "/api/2.0/mlflow/runs/log-batch", None, b'"{not json'),
    ("POST", "/api/2.0/mlflow/experiments/create", None, b'"[1, 2]"'),
    ("GET", "/get-artifact", {"run_uuid": "0" * 32}, None),
    ("GET", "/model-versions/get-artifact", {"name": "m", "version": "1"}, None),
]


@pytest.mark.parametrize(("method", "path", "query", "body"), MALFORMED)
def test_malformed_requests_get_a_400_that_says_why(mlflow_stack, stock, method, path, query, body):
    headers = {"Content-Type": "application/json"}
    stock_reply = requests.request(
        method, stock + path, params=query, data=body, headers=headers, timeout=30
    )
    stock_json = stock_reply.headers.get("content-type", "").startswith("application/json")
    assert stock_reply.status_code == 500 or not stock_json, stock_reply.text[:300]
    headers["Authorization"] = f"Bearer {mlflow_stack.tokens['alice']}"
    reply = requests.request(
        method, mlflow_stack.url + path, params=query, data=body, headers=headers, timeout=30
    )
    assert reply.status_code == 400, reply.text[:300]
    assert reply.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert reply.json()["message"]


@pytest.mark.parametrize("stack_name", ["mlflow_stack", "volume_stack"])
def test_clients_forcing_multipart_fall_back_to_the_proxy(stack_name, request, tmp_path):
    """MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD/DOWNLOAD=true (set in many notebooks) still works:
    the server says 'not supported' in MLflow's own words and the client uses the proxy."""
    stack: Stack = request.getfixturevalue(stack_name)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024))
    env = {
        "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
        "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": "1024",
        "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "true",
        "MLFLOW_MULTIPART_DOWNLOAD_MINIMUM_FILE_SIZE": "1024",
    }
    with client_as(stack, "alice", env) as client:
        run_id = client.create_run(
            client.create_experiment(f"mpu-{os.urandom(4).hex()}")
        ).info.run_id
        client.log_artifact(run_id, str(big))
        back = Path(client.download_artifacts(run_id, "big.bin", str(tmp_path / "out")))
    assert back.read_bytes() == big.read_bytes()
