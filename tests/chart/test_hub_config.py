"""What the chart hands the hub and MLflow is what their own code accepts.

- the hub ConfigMap's podlab.yaml passes `podlab validate` (the hub's init container runs the
  same command);
- the hub's real jupyterhub_config.py, loaded the way the pod loads it (PODLAB_CONFIG and the
  other variables of the Deployment, its command line), yields the
  authenticator, the proxy/database settings, and both services (culler and MLflow);
- the MLflow container's environment passes podlab_mlflow's settings check.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from podlab.localstack.paths import REPO_ROOT
from tests.chart.helm import DEFAULTS, RENDERS, by_component, example, render_example

HUB_CONFIG = REPO_ROOT / "hub" / "jupyterhub_config.py"


def _container(obj: dict[str, Any], name: str) -> dict[str, Any]:
    spec = obj["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] + spec.get("initContainers", []) if c["name"] == name)


def _env(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the pod sees it: Secret refs get a stand-in of the
    right shape (URLs for *-url keys, a host for host keys, 64 characters for the admin
    password), field refs a name, and $(VAR) is expanded from earlier entries as kubelet does."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            value = str(item["value"])
            for name, earlier in env.items():
                value = value.replace(f"$({name})", earlier)
            env[item["name"]] = value
        elif "secretKeyRef" in item.get("valueFrom", {}):
            env[item["name"]] = _secret_stand_in(item["valueFrom"]["secretKeyRef"]["key"])
        else:
            env[item["name"]] = "podlab"
    return env


def _secret_stand_in(key: str) -> str:
    if key.endswith("-url"):
        return f"https://idp.example.com/{key}"
    if key == "host":
        return "db.example.com"
    return "a" * 64 if key == "admin-password" else "secret-value"


def _mount_hub_config(objects: list[dict[str, Any]], root: Path) -> Path:
    """Write the hub ConfigMap where the Deployment mounts it (items and paths honoured)."""
    deployment = by_component(objects, "Deployment", "hub")
    configmap = by_component(objects, "ConfigMap", "hub")
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if "configMap" in v)
    mount = next(
        m for m in _container(deployment, "hub")["volumeMounts"] if m["name"] == volume["name"]
    )
    target = Path(root, str(mount["mountPath"]).lstrip("/"))
    for item in volume["configMap"]["items"]:
        path = target / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(configmap["data"][item["key"]])
    return target


@pytest.mark.parametrize("name", RENDERS)
def test_hub_configmap_passes_podlab_validate(name, tmp_path):
    objects = render_example(name)
    deployment = by_component(objects, "Deployment", "hub")
    check = _container(deployment, "validate-config")
    assert check["command"][:2] == ["podlab", "validate"]
    etc = _mount_hub_config(objects, tmp_path)
    path = tmp_path / check["command"][2].lstrip("/")
    assert path.is_relative_to(etc), "the init container checks the mounted file"
    assert path.exists()
    result = subprocess.run(
        [
            sys.executable,
            *("-c", "import sys; from podlab.cli import main; sys.exit(main())"),
            *("validate", str(path)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _load_hub(objects: list[dict[str, Any]], root: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from jupyterhub.app import JupyterHub

    _mount_hub_config(objects, root)
    hub = _container(by_component(objects, "Deployment", "hub"), "hub")
    env = _env(hub)
    env["PODLAB_CONFIG"] = str(root / env["PODLAB_CONFIG"].lstrip("/"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # The image's config file is hub/jupyterhub_config.py; everything else is the pod's.
    args = [a for a in hub["args"] if not a.startswith("--config=")]
    # Kubernetes expands $(VAR) in args from the container's environment.
    for key, value in env.items():
        args = [a.replace(f"$({key})", value) for a in args]
    app = JupyterHub()
    app.parse_command_line([f"--config={HUB_CONFIG}", *args])
    app.load_config_file(app.config_file)
    return app


@pytest.mark.parametrize("name", RENDERS)
def test_hub_starts_from_the_rendered_config(name, tmp_path, monkeypatch):
    from jupyterhub.app import JupyterHub
    from jupyterhub.services.service import Service

    objects = render_example(name)
    app = _load_hub(objects, tmp_path, monkeypatch)
    config = app.config
    hub = JupyterHub(config=config)
    assert hub.db_url.startswith("postgresql+psycopg2://")
    assert ":" not in hub.db_url.split("//", 1)[1].split("@", 1)[0], "no password in the URL"
    assert "$(" not in hub.db_url
    # podlab.user_service_account.annotations reach the spawner's user ServiceAccounts.
    values = yaml.safe_load(example(name).read_text()) if name != DEFAULTS else {}
    podlab = values.get("podlab", {})
    expected = podlab.get("user_service_account", {}).get("annotations", {})
    assert config.PodlabKubeSpawner.user_service_account_annotations == expected
    assert hub.cleanup_servers is False, "a hub restart must not stop user servers"
    assert config.ConfigurableHTTPProxy.should_start is False
    assert config.ConfigurableHTTPProxy.api_url.endswith(".svc:8001")
    services = {s["name"]: s for s in hub.services}
    assert "idle-culler" in services, "the culler is a hub-managed service"
    assert services["mlflow"]["url"].endswith(".svc:5000")
    assert services["mlflow"]["api_token"] == "secret-value"
    inputs = set(Service.class_traits(input=True))
    for service in services.values():
        assert set(service) <= inputs, f"unknown service keys: {set(service) - inputs}"
    # The authenticator the values select, configured without errors.
    authenticator_class = hub.authenticator_class
    authenticator = authenticator_class(config=config)
    values_auth = "dummy" if "SharedPassword" in authenticator_class.__name__ else "oidc"
    if values_auth == "oidc":
        assert authenticator.authorize_url.startswith("https://")
        assert authenticator.client_secret == "secret-value"
    else:
        assert authenticator.user_password == "secret-value"


def test_oidc_groups_are_wired_to_jupyterhub_groups(tmp_path, monkeypatch):
    app = _load_hub(render_example("production-eks"), tmp_path, monkeypatch)
    from oauthenticator.generic import GenericOAuthenticator  # type: ignore[import-untyped]

    authenticator = GenericOAuthenticator(config=app.config)
    assert authenticator.allowed_groups == {"ml-engineers"}
    assert authenticator.admin_groups == {"ml-platform"}
    assert authenticator.manage_groups is True
    assert authenticator.username_claim == "preferred_username"
    assert authenticator.scope == ["openid", "profile", "email"]


@pytest.mark.parametrize("name", RENDERS)
def test_mlflow_environment_passes_the_server_settings_check(name, tmp_path):
    from podlab_mlflow.settings import load_settings

    objects = render_example(name)
    mlflow = by_component(objects, "Deployment", "mlflow")
    container = _container(mlflow, "mlflow")
    env = _env(container)
    destination = env["PODLAB_MLFLOW_ARTIFACTS_DESTINATION"]
    if not destination.startswith("s3://"):
        # The artifacts volume: mounted exactly there, from the kept claim.
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in mlflow["spec"]["template"]["spec"]["volumes"]}
        claim = volumes[mounts[destination]]["persistentVolumeClaim"]["claimName"]
        pvc = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
        assert [o["metadata"]["name"] for o in pvc] == [claim]
        env["PODLAB_MLFLOW_ARTIFACTS_DESTINATION"] = str(tmp_path)
    settings = load_settings(env)
    service = by_component(objects, "Service", "mlflow")["metadata"]["name"]
    assert service in settings.allowed_hosts
    assert settings.database_url.startswith("postgresql+psycopg2://")
    assert "$(" not in settings.database_url, "every $(VAR) names an env var defined before it"
    if name == DEFAULTS:  # the host comes from the database Secret
        assert "@db.example.com:5432/mlflow" in settings.database_url
    assert settings.service_prefix == "/services/mlflow/"
    migrate = by_component(objects, "Job", "mlflow-migrate")
    job_env = _env(migrate["spec"]["template"]["spec"]["containers"][0])
    assert job_env["PODLAB_MLFLOW_DATABASE_URL"] == env["PODLAB_MLFLOW_DATABASE_URL"]


@pytest.mark.parametrize("name", RENDERS)
def test_user_servers_get_the_in_cluster_mlflow_url(name, tmp_path):
    from podlab.config import load_config

    objects = render_example(name)
    etc = _mount_hub_config(objects, tmp_path)
    config = load_config(etc / "podlab.yaml")
    service = by_component(objects, "Service", "mlflow")["metadata"]["name"]
    assert config.integrations.mlflow.url == f"http://{service}.podlab.svc:5000"


def _mlflow_access(config: Any) -> dict[str, Any]:
    """What a hub config gives users and admins for MLflow: roles, scopes, token scopes."""

    def value(item: Any, initial: Any) -> Any:  # a traitlets lazy value, as the hub resolves it
        return item.get_value(initial) if hasattr(item, "get_value") else item

    roles = {r["name"]: r for r in value(config.JupyterHub.load_roles, [])}
    services = value(config.JupyterHub.services, [])
    service = next(s for s in services if s["name"] == "mlflow")
    return {
        "user": roles["user"]["scopes"],
        "admin_scopes": roles["mlflow-admin"]["scopes"],
        "custom_scopes": sorted(value(config.JupyterHub.custom_scopes, {})),
        "server_token_scopes": list(config.Spawner.server_token_scopes),
        "oauth_scopes": service["oauth_client_allowed_scopes"],
    }


def test_chart_and_make_up_give_users_the_same_mlflow_access(tmp_path, monkeypatch):
    """R1: one definition (podlab.mlflow_service) for the chart's hub and `make up`'s."""
    from traitlets.config import Config

    from podlab.localstack.mlflow import hub_config
    from podlab.mlflow_service import ACCESS_SCOPE, ADMIN_SCOPE

    chart = _load_hub(render_example("production-eks"), tmp_path, monkeypatch).config
    local = Config()
    local.Authenticator.admin_users = {"admin"}
    local.JupyterHub.services = []
    local.JupyterHub.load_roles = []
    exec(hub_config("http://127.0.0.1:5000", "token"), {"c": local})  # noqa: S102 (as jupyterhub)
    assert _mlflow_access(chart) == _mlflow_access(local)
    assert ACCESS_SCOPE in _mlflow_access(chart)["user"]
    assert ADMIN_SCOPE in _mlflow_access(chart)["server_token_scopes"]
    admins = next(r for r in chart.JupyterHub.load_roles if r["name"] == "mlflow-admin")
    assert admins["groups"] == ["ml-platform"], "OIDC admin groups administer MLflow"


def test_the_server_and_the_hub_agree_on_the_scope_names():
    from podlab.mlflow_service import ACCESS_SCOPE, ADMIN_SCOPE
    from podlab_mlflow.hubauth import ACCESS_SCOPES
    from podlab_mlflow.hubauth import ADMIN_SCOPE as SERVER_ADMIN_SCOPE

    assert ACCESS_SCOPE in ACCESS_SCOPES
    assert ADMIN_SCOPE == SERVER_ADMIN_SCOPE


@pytest.mark.parametrize("name", RENDERS)
def test_mlflow_allows_the_public_origins(name):
    """R2: the chart's public URL and ingress hosts reach MLflow as allowed origins and hosts."""
    from podlab_mlflow.settings import load_settings

    objects = render_example(name)
    container = _container(by_component(objects, "Deployment", "mlflow"), "mlflow")
    env = _env(container)
    values = yaml.safe_load(example(name).read_text()) if name != DEFAULTS else {}
    hosts = values.get("proxy", {}).get("ingress", {}).get("hosts", [])
    origins = [o for o in env.get("PODLAB_MLFLOW_ALLOWED_ORIGINS", "").split(",") if o]
    assert sorted(origins) == sorted(
        f"{scheme}://{host}" for host in hosts for scheme in ("https", "http")
    )
    env["PODLAB_MLFLOW_ARTIFACTS_DESTINATION"] = "s3://bucket/prefix"
    allowed = load_settings(env).mlflow_allowed_hosts.split(",")
    for host in hosts:
        assert host in allowed


def test_the_public_url_is_an_allowed_origin():
    from tests.chart.helm import render

    objects = render(sets=('proxy.publicUrl="https://ml.example.org"',))
    env = _env(_container(by_component(objects, "Deployment", "mlflow"), "mlflow"))
    assert env["PODLAB_MLFLOW_ALLOWED_ORIGINS"] == "https://ml.example.org"
