"""`migrate` is the only schema writer; `serve` refuses any schema that is not exactly current."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.podlab_mlflow import PodlabMlflowServer


def _server(stack: Any, url: str, s3_server: Any, log_dir: Any) -> PodlabMlflowServer:
    return PodlabMlflowServer(
        hub=stack.hub, database_url=url, s3=s3_server, bucket="podlab-schema", log_dir=log_dir
    )


@pytest.fixture
def fresh(mlflow_stack, postgres, s3_server, component_log_dir, request):
    """An empty database."""
    name = "schema_" + request.node.name.replace("test_", "")[:40]
    postgres.drop_database(name)
    server = _server(mlflow_stack, postgres.create_database(name), s3_server, component_log_dir)
    yield server, name
    postgres.drop_database(name)


@pytest.fixture
def migrated(mlflow_stack, mlflow_template, s3_server, component_log_dir, postgres):
    """A database at this release's schema (a clone of the migrated template)."""
    name = "schema_migrated"
    server = _server(mlflow_stack, mlflow_template.clone(name), s3_server, component_log_dir)
    yield server, name
    postgres.drop_database(name)


def _tables(postgres: Any, db: str) -> list[Any]:
    rows = postgres.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", db
    )
    return [r[0] for r in rows]


def test_migrate_is_idempotent(mlflow_template, mlflow_stack, s3_server, component_log_dir):
    """From empty (the session's template database, migrated once), then again: no change."""
    postgres, db = mlflow_template.postgres, mlflow_template.name
    first = mlflow_template.first_migrate
    assert "schema migrated: MLflow revision empty" in first.stdout
    server = _server(mlflow_stack, postgres.url(db), s3_server, component_log_dir)
    tables = _tables(postgres, db)
    assert {"runs", "metrics", "registered_models", "podlab_mlflow_owners"} <= set(tables)
    again = server.run_cli("migrate")
    assert again.returncode == 0, again.stderr
    assert "already current" in again.stdout
    assert _tables(postgres, db) == tables
    check = server.run_cli("migrate", "--check")
    assert check.returncode == 0, check.stderr


def test_serve_on_an_unmigrated_database_exits_with_the_command(fresh, postgres):
    server, db = fresh
    result = server.run_cli("serve", timeout=120)
    assert result.returncode == 3
    assert "The database schema is not current" in result.stderr
    assert "run `podlab-mlflow migrate`" in result.stderr
    assert _tables(postgres, db) == []  # serve never creates or migrates anything
    check = server.run_cli("migrate", "--check")
    assert check.returncode == 3


def test_a_database_newer_than_this_mlflow_is_refused(migrated, postgres):
    server, db = migrated
    postgres.execute("UPDATE alembic_version SET version_num = 'f00dfeedbeef'", db)
    for command in ("migrate", "serve"):
        result = server.run_cli(command, timeout=120)
        assert result.returncode == 3, (command, result.stderr)
        assert "is newer than this server's MLflow" in result.stderr
        assert "Nothing was changed" in result.stderr
    assert postgres.execute("SELECT version_num FROM alembic_version", db) == [("f00dfeedbeef",)]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PODLAB_MLFLOW_DATABASE_URL", "", "PODLAB_MLFLOW_DATABASE_URL is not set"),
        ("PODLAB_MLFLOW_DATABASE_URL", "mysql://u@h/db", "supports PostgreSQL only"),
        ("PODLAB_MLFLOW_ARTIFACTS_DESTINATION", "/nonexistent/artifacts", "is not a directory"),
        ("PODLAB_MLFLOW_ARTIFACTS_DESTINATION", "s3://Bad_Bucket", "is not an S3 location"),
        ("JUPYTERHUB_API_URL", "", "JUPYTERHUB_API_URL is not set"),
        ("PODLAB_MLFLOW_DB_POOL_SIZE", "500", "PODLAB_MLFLOW_DB_POOL_SIZE=500 is out of range"),
        ("PODLAB_MLFLOW_ALLOWED_HOSTS", "mlflow,bad host", "is not a host name"),
    ],
)
def test_bad_settings_stop_serve_with_the_variable_named(migrated, variable, value, message):
    server, _ = migrated
    server.extra_env[variable] = value
    result = server.run_cli("serve", timeout=60)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
