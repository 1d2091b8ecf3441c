"""Settings parsing, without any server (fast checks)."""

from __future__ import annotations

import pytest

from podlab_mlflow.settings import ConfigError, load_settings

BASE = {
    "PODLAB_MLFLOW_DATABASE_URL": "postgresql://mlflow@db:5432/mlflow",
    "PODLAB_MLFLOW_ARTIFACTS_DESTINATION": "s3://bucket/prefix/",
    "JUPYTERHUB_API_URL": "http://hub:8081/hub/api/",
    "JUPYTERHUB_API_TOKEN": "service-token",
}


def test_settings_from_environment():
    settings = load_settings(
        {
            **BASE,
            "PODLAB_MLFLOW_DATABASE_PASSWORD": "s3cr/t@x",
            "PODLAB_MLFLOW_ALLOWED_HOSTS": "mlflow, mlflow.podlab.svc.cluster.local",
            "PODLAB_MLFLOW_WORKERS": "3",
        }
    )
    # psycopg2 spelled out, the password from its own variable, URL-escaped.
    assert settings.database_url == "postgresql+psycopg2://mlflow:s3cr%2Ft%40x@db:5432/mlflow"
    assert settings.artifacts_destination == "s3://bucket/prefix"
    assert settings.hub_api_url == "http://hub:8081/hub/api"
    assert settings.workers == 3
    assert settings.mlflow_allowed_hosts.split(",") == [
        "mlflow",
        "mlflow:*",
        "mlflow.podlab.svc.cluster.local",
        "mlflow.podlab.svc.cluster.local:*",
        "localhost",
        "localhost:*",
        "127.0.0.1",
        "127.0.0.1:*",
    ]
    assert settings.oauth_callback_url == "/services/mlflow/oauth_callback"
    assert "service-token" not in repr(settings)


def test_a_mounted_directory_is_an_artifacts_destination(tmp_path):
    for spelling in (str(tmp_path), f"file://{tmp_path}/"):
        settings = load_settings({**BASE, "PODLAB_MLFLOW_ARTIFACTS_DESTINATION": spelling})
        assert settings.artifacts_destination == str(tmp_path)


def test_presigned_urls_need_a_bucket(tmp_path):
    env = {
        **BASE,
        "PODLAB_MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path),
        "PODLAB_MLFLOW_PRESIGNED_URLS": "true",
    }
    with pytest.raises(ConfigError, match="needs an s3:// artifacts destination"):
        load_settings(env)


def test_default_workers_follow_the_cpus():
    settings = load_settings(BASE)
    assert 1 <= settings.workers <= 8


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"PODLAB_MLFLOW_DATABASE_URL": "sqlite:///x.db"}, "supports PostgreSQL only"),
        ({"PODLAB_MLFLOW_DATABASE_URL": "postgresql+psycopg2://db:5432"}, "names no database"),
        ({"PODLAB_MLFLOW_ARTIFACTS_DESTINATION": ""}, "ARTIFACTS_DESTINATION is not set"),
        ({"PODLAB_MLFLOW_ARTIFACTS_DESTINATION": "s3://x"}, "is not an S3 location"),
        ({"PODLAB_MLFLOW_ARTIFACTS_DESTINATION": "artifacts"}, "nor an absolute directory"),
        ({"PODLAB_MLFLOW_ARTIFACTS_DESTINATION": "gs://b/p"}, "nor an absolute directory"),
        ({"PODLAB_MLFLOW_ARTIFACTS_DESTINATION": "/no/such/volume"}, "mount the artifacts"),
        ({"PODLAB_MLFLOW_ARTIFACTS_DESTINATION": "file:///no/such"}, "is not a directory"),
        ({"PODLAB_MLFLOW_WORKERS": "many"}, "PODLAB_MLFLOW_WORKERS='many' is not a whole number"),
        ({"PODLAB_MLFLOW_DB_POOL_SIZE": "0"}, "PODLAB_MLFLOW_DB_POOL_SIZE=0 is out of range"),
        ({"PODLAB_MLFLOW_TOKEN_CACHE_TTL": "3600"}, "TOKEN_CACHE_TTL=3600.0 is out of range"),
        ({"JUPYTERHUB_API_TOKEN": ""}, "JUPYTERHUB_API_TOKEN is not set"),
        ({"JUPYTERHUB_SERVICE_PREFIX": "services/mlflow"}, "must be a URL path"),
        ({"PODLAB_MLFLOW_PRESIGNED_URLS": "maybe"}, "use true or false"),
    ],
)
def test_bad_settings_name_the_variable(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("*", r"\*").replace("(", r"\(")):
        load_settings({**BASE, **overrides})


def test_public_origins_are_allowed_as_origins_and_hosts():
    settings = load_settings(
        {
            **BASE,
            "PODLAB_MLFLOW_ALLOWED_ORIGINS": "https://podlab.example.com, http://podlab.test:8000/",
        }
    )
    assert settings.allowed_origins == ("https://podlab.example.com", "http://podlab.test:8000")
    hosts = settings.mlflow_allowed_hosts.split(",")
    assert {"podlab.example.com", "podlab.example.com:*", "podlab.test", "podlab.test:*"} <= set(
        hosts
    )
    from podlab_mlflow.cli import server_environment

    env = server_environment(settings)
    assert env["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"] == (
        "https://podlab.example.com,http://podlab.test:8000"
    )


@pytest.mark.parametrize("origin", ["podlab.example.com", "https://x.com/path", "ftp://x.com"])
def test_a_bad_origin_names_the_variable(origin):
    with pytest.raises(ConfigError, match=r"PODLAB_MLFLOW_ALLOWED_ORIGINS: .* is not an origin"):
        load_settings({**BASE, "PODLAB_MLFLOW_ALLOWED_ORIGINS": origin})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"PODLAB_MLFLOW_PORT": "70000"}, "PODLAB_MLFLOW_PORT=70000 is out of range: use 1..65535"),
        (
            {"PODLAB_MLFLOW_DB_MAX_OVERFLOW": "x"},
            "PODLAB_MLFLOW_DB_MAX_OVERFLOW='x' is not a whole",
        ),
        ({"PODLAB_MLFLOW_TOKEN_CACHE_TTL": "soon"}, "PODLAB_MLFLOW_TOKEN_CACHE_TTL='soon' is not"),
        (
            {"PODLAB_MLFLOW_ALLOWED_HOSTS": "ml flow"},
            "PODLAB_MLFLOW_ALLOWED_HOSTS: 'ml flow' is not",
        ),
        ({"JUPYTERHUB_API_URL": "  "}, "JUPYTERHUB_API_URL is not set"),
        ({"JUPYTERHUB_BASE_URL": "hub"}, "JUPYTERHUB_BASE_URL='hub' must be a URL path"),
    ],
)
def test_each_bad_setting_gets_the_whole_message(overrides, message):
    """pydantic-settings reads the variables; the messages stay podlab's own, exactly."""
    with pytest.raises(ConfigError) as raised:
        load_settings({**BASE, **overrides})
    assert str(raised.value).startswith(message), str(raised.value)


def test_blank_variables_are_unset_and_defaults_follow_other_settings():
    settings = load_settings(
        {
            **BASE,
            "PODLAB_MLFLOW_PORT": " ",
            "PODLAB_MLFLOW_DB_POOL_SIZE": "7",
            "JUPYTERHUB_SERVICE_PREFIX": "/services/tracking",
            "AWS_ENDPOINT_URL_S3": " http://s3:9000 ",
            "PODLAB_MLFLOW_PRESIGNED_URLS": "Yes",
        }
    )
    assert settings.port == 5000
    assert (settings.db_pool_size, settings.db_max_overflow) == (7, 7)
    assert settings.service_prefix == "/services/tracking/"
    assert settings.oauth_callback_url == "/services/tracking/oauth_callback"
    assert settings.s3_endpoint_url == "http://s3:9000"
    assert settings.presigned_urls is True


def test_only_the_given_mapping_is_read(monkeypatch):
    monkeypatch.setenv("PODLAB_MLFLOW_WORKERS", "many")
    assert load_settings({**BASE, "PODLAB_MLFLOW_WORKERS": "2"}).workers == 2
    assert load_settings(BASE, require_hub=True).hub_api_token == "service-token"
