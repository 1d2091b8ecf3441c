"""Artifact paths that could leave the artifact root are refused, however they are encoded."""

from __future__ import annotations

import pytest

URL_ATTEMPTS = [
    "/api/2.0/mlflow-artifacts/artifacts/../../etc/passwd",
    "/api/2.0/mlflow-artifacts/artifacts/1/%2e%2e/%2e%2e/secret",
    "/api/2.0/mlflow-artifacts/artifacts/1/%252e%252e/secret",
    "/api/2.0/mlflow-artifacts/artifacts/%2Fetc%2Fpasswd",
    "/api/2.0/mlflow-artifacts/artifacts/1/..%5c..%5csecret",
    "/api/2.0/mlflow-artifacts/artifacts/1//secret",
    "/api/2.0/mlflow-artifacts/artifacts/1/./secret",
    "/api/2.0/mlflow-artifacts/artifacts/1/%00secret",
]
QUERY_ATTEMPTS = [
    ("GET", "/api/2.0/mlflow-artifacts/artifacts?path=../../etc"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts?path=%2Fetc"),
    ("GET", "/get-artifact?path=../../../etc/passwd&run_uuid=0123"),
    ("GET", "/get-artifact?path=%252e%252e%252fsecret&run_uuid=0123"),
    ("GET", "/model-versions/get-artifact?path=/etc/passwd&name=m&version=1"),
    ("POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=0123&path=../x"),
    ("GET", "/ajax-api/2.0/mlflow/logged-models/m-1/artifacts/files?artifact_file_path=a/../../b"),
]


@pytest.mark.parametrize("target", URL_ATTEMPTS)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_non_canonical_path_is_refused_before_anything_runs(mlflow_stack, target, method):
    status, body = mlflow_stack.raw(method, target, "admin")
    assert status == 400, body
    assert "The request path" in body
    assert "one spelling of each path" in body


@pytest.mark.parametrize(("method", "target"), QUERY_ATTEMPTS)
def test_a_path_parameter_leaving_the_root_is_refused(mlflow_stack, method, target):
    status, body = mlflow_stack.raw(method, target, "admin")
    assert status == 400, body
    assert "Invalid artifact path" in body


def test_nothing_was_written_outside_the_prefix(mlflow_stack):
    client = mlflow_stack.server.s3.client()
    keys = [
        obj["Key"]
        for obj in client.list_objects_v2(Bucket=mlflow_stack.server.bucket).get("Contents", [])
    ]
    assert all(key.startswith(mlflow_stack.server.prefix + "/") for key in keys), keys


def test_presigned_bucket_urls_are_off_so_artifacts_stay_on_the_proxy(mlflow_stack):
    info = mlflow_stack.call("GET", "/api/3.0/mlflow/server-info", "alice")
    assert info.status_code == 200, info.text
    body = info.json()
    assert body["multipart_downloads_enabled"] is False
    assert body["multipart_uploads_enabled"] is False
    for method, path in [
        ("GET", "/api/2.0/mlflow-artifacts/presigned/1/x/artifacts/model.pkl"),
        ("POST", "/api/2.0/mlflow-artifacts/mpu/create/1/x/artifacts/model.pkl"),
    ]:
        reply = mlflow_stack.call(method, path, "alice", {"path": "model.pkl", "num_parts": 1})
        assert reply.status_code == 501, reply.text
        assert "PODLAB_MLFLOW_PRESIGNED_URLS" in reply.json()["message"]
