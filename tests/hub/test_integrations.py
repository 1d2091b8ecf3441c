"""integration_env: the one environment both spawners give a user server."""

from __future__ import annotations

import pytest

from podlab.config import parse_config
from podlab.integrations import integration_env

BASE = {
    "profiles": [
        {
            "slug": "cpu",
            "display_name": "CPU",
            "cpu": {"guarantee": 1, "limit": 2},
            "memory": {"guarantee": "1Gi", "limit": "2Gi"},
        }
    ],
    "integrations": {
        "mlflow": {"url": "http://mlflow.podlab.svc:5000"},
        "s3": {"region": "eu-west-1", "shared_bucket": "ml-shared"},
        "sql": {"engine": "presto", "host": "presto.data", "catalog": "hive", "schema": "web"},
        "git": {"email_domain": "example.com"},
    },
}


def env_for(username: str, **overrides):
    config = parse_config(BASE)
    return integration_env(
        config,
        config.profiles[0],
        username=username,
        namespace="podlab-x",
        home="/home/jovyan",
        api_token="tok-123",
        **overrides,
    )


def test_mlflow_token_is_the_servers_hub_token_and_no_static_aws_keys():
    env = env_for("alice")
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.podlab.svc:5000"
    assert env["MLFLOW_TRACKING_TOKEN"] == "tok-123"
    assert not {k for k in env if k.startswith("AWS_") and ("KEY" in k or "TOKEN" in k)}
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["PODLAB_S3_USER_PREFIX"] == "s3://ml-shared/users/podlab-x/"


def test_sql_engine_names_the_variables():
    env = env_for("alice")
    assert env["PRESTO_HOST"] == "presto.data"
    assert env["PRESTO_CATALOG"] == "hive"
    assert env["PRESTO_SCHEMA"] == "web"
    assert env["PRESTO_USER"] == "alice"
    assert not [k for k in env if k.startswith("TRINO_")]


@pytest.mark.parametrize(
    ("username", "email"),
    [("alice", "alice@example.com"), ("Alice.Smith@corp.io", "Alice.Smith@corp.io")],
)
def test_git_identity_from_the_hub_user(username, email):
    env = env_for(username)
    assert env["PODLAB_GIT_NAME"] == username
    assert env["PODLAB_GIT_EMAIL"] == email
