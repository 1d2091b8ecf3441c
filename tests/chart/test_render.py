"""The chart lints, renders for every example, and every object is valid Kubernetes.

Every rendered object (hooks and test pods included) is checked with kubernetes-validate in
strict mode (unknown fields are errors) against each supported Kubernetes version, so a
typo'd field or an API removed in a newer release fails here rather than at install.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from tests.chart.helm import (
    CHART,
    DEFAULTS,
    EXAMPLES,
    KUBERNETES_VERSIONS,
    RENDERS,
    by_component,
    example,
    helm,
    label,
    render_error,
    render_example,
)


def test_lint_strict_defaults():
    result = helm("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("name", EXAMPLES)
def test_lint_strict_example(name):
    result = helm("lint", "--strict", str(CHART), "--values", str(example(name)))
    assert "0 chart(s) failed" in result.stdout, result.stdout + result.stderr


def test_examples_exist():
    assert set(EXAMPLES) >= {"minimal", "production-eks", "gpu-heavy"}


def _env(objects: list[dict[str, Any]], component: str) -> dict[str, dict[str, Any]]:
    deployment = by_component(objects, "Deployment", component)
    return {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


def _secret_ref(entry: dict[str, Any]) -> tuple[str, str]:
    ref = entry["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


def test_defaults_render_a_production_shaped_release():
    """values.yaml alone renders: external PostgreSQL and the identity provider come from
    Secrets with documented names (their hosts and URLs too, when no value names them), and
    MLflow keeps artifacts on a kept volume until a bucket is named. No bundled database."""
    objects = render_example(DEFAULTS)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "ClusterRole", "Job"} <= kinds
    assert "StatefulSet" not in kinds, "the bundled database must be off unless asked for"
    hub = _env(objects, "hub")
    assert _secret_ref(hub["PODLAB_HUB_DB_HOST"]) == ("podlab-hub-db", "host")
    assert _secret_ref(hub["PGPASSWORD"]) == ("podlab-hub-db", "password")
    for variable, key in [
        ("OAUTH2_AUTHORIZE_URL", "authorize-url"),
        ("OAUTH2_TOKEN_URL", "token-url"),
        ("OAUTH2_USERDATA_URL", "userdata-url"),
        ("OAUTH_CLIENT_ID", "client-id"),
        ("OAUTH_CLIENT_SECRET", "client-secret"),
    ]:
        assert _secret_ref(hub[variable]) == ("podlab-oidc", key)
    mlflow = _env(objects, "mlflow")
    assert _secret_ref(mlflow["PODLAB_MLFLOW_DB_HOST"]) == ("podlab-mlflow-db", "host")
    assert _secret_ref(mlflow["PODLAB_MLFLOW_DATABASE_PASSWORD"]) == (
        "podlab-mlflow-db",
        "password",
    )
    assert mlflow["PODLAB_MLFLOW_DATABASE_URL"]["value"] == (
        "postgresql+psycopg2://mlflow@$(PODLAB_MLFLOW_DB_HOST):5432/mlflow"
    )
    names = list(mlflow)
    assert names.index("PODLAB_MLFLOW_DB_HOST") < names.index("PODLAB_MLFLOW_DATABASE_URL"), (
        "Kubernetes expands $(VAR) only from variables defined earlier"
    )


def test_site_values_replace_what_the_secrets_would_hold():
    objects = render_example(
        DEFAULTS,
        'hub.db={"host": "db.example.com", "existingSecret": "podlab-db"}',
        'mlflow.db={"existingSecret": "podlab-db", "passwordKey": "mlflow-password"}',
        'hub.auth.oidc={"authorizeUrl": "https://idp.example.com/a", "clientId": "podlab"}',
    )
    hub, mlflow = _env(objects, "hub"), _env(objects, "mlflow")
    assert hub["PODLAB_HUB_DB_HOST"] == {"name": "PODLAB_HUB_DB_HOST", "value": "db.example.com"}
    assert mlflow["PODLAB_MLFLOW_DB_HOST"]["value"] == "db.example.com", (
        "MLflow shares the hub's server"
    )
    assert _secret_ref(mlflow["PODLAB_MLFLOW_DATABASE_PASSWORD"]) == (
        "podlab-db",
        "mlflow-password",
    )
    assert hub["OAUTH2_AUTHORIZE_URL"]["value"] == "https://idp.example.com/a"
    assert hub["OAUTH_CLIENT_ID"]["value"] == "podlab"
    assert _secret_ref(hub["OAUTH2_TOKEN_URL"]) == ("podlab-oidc", "token-url")


def test_values_the_schema_cannot_judge_are_refused_in_one_message():
    """Contradictions across values: every one listed, each with the way out."""
    error = render_error(
        sets=(
            'hub.db.existingSecret=""',
            'mlflow.db.existingSecret=""',
            'hub.auth.oidc.existingSecret=""',
            "mlflow.replicas=2",
        )
    )
    assert "podlab: invalid values:" in error
    for text in (
        "hub.db.existingSecret is empty",
        "mlflow.db.existingSecret is empty",
        "postgresql.bundled.enabled=true for a trial",
        "hub.auth.oidc.existingSecret is empty",
        "hub.auth.type=password for a trial",
        "mlflow.replicas is 2 but the artifacts volume is ReadWriteOnce",
        "set the destination to s3://BUCKET/PREFIX",
    ):
        assert text in error, f"{text!r} missing from:\n{error}"
    bundled = render_error(
        values=(str(example("minimal")),), sets=('hub.db.host="db.example.com"',)
    )
    assert "hub.db.host is set and postgresql.bundled.enabled is true" in bundled


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", RENDERS)
def test_every_object_is_valid_kubernetes(name, version):
    problems = []
    objects = render_example(name)
    assert objects
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            problems.append(f"{label(obj)}: {err.message} at {list(err.path)}")
    assert not problems, "\n".join(problems)


VARIANTS = {
    "without MLflow": ("production-eks", ("mlflow.enabled=false",)),
    "without policies and budgets": (
        "production-eks",
        tuple(
            f"{component}.{feature}.enabled=false"
            for component in ("hub", "proxy", "mlflow")
            for feature in ("networkPolicy", "pdb")
        ),
    ),
    "existing secrets everywhere": (
        "minimal",
        (
            'hub.existingSecret="site-hub"',
            'postgresql.bundled.existingSecret="site-db"',
            'hub.auth.password.existingSecret="site-login"',
        ),
    ),
    "node port with image pull secrets": (
        "gpu-heavy",
        (
            'proxy.service.type="NodePort"',
            "proxy.service.nodePort=30080",
            'imagePullSecrets=["rc"]',
        ),
    ),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variants_render_valid_objects(variant):
    name, sets = VARIANTS[variant]
    objects = render_example(name, *sets)
    problems = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[-1], strict=True)
        except kubernetes_validate.ValidationError as err:
            problems.append(f"{label(obj)}: {err.message}")
    assert not problems, "\n".join(problems)
    if variant == "without MLflow":
        assert not [o for o in objects if "mlflow" in o["metadata"]["name"]]
    if variant == "existing secrets everywhere":
        assert not [o for o in objects if o["kind"] == "Secret"]
