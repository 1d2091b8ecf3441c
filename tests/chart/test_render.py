"""The chart lints, renders for every example, and every object is valid Kubernetes.

Every rendered object (hooks and test pods included) is checked with kubernetes-validate in
strict mode (unknown fields are errors) against each supported Kubernetes version, so a
typo'd field or an API removed in a newer release fails here rather than at install.
"""

from __future__ import annotations

import kubernetes_validate
import pytest

from tests.chart.helm import (
    CHART,
    EXAMPLES,
    KUBERNETES_VERSIONS,
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


def test_defaults_ask_for_what_the_chart_cannot_guess():
    """The defaults alone render nothing: the database, the bucket and the identity provider
    are per site. One message lists every missing value and how to provide it."""
    error = render_error()
    assert "podlab: invalid values:" in error
    for value in (
        "hub.db.host is empty",
        "hub.db.existingSecret is empty",
        "mlflow.db.existingSecret is empty",
        "mlflow.artifacts.destination is empty",
        "hub.auth.oidc.authorizeUrl",
        "postgresql.bundled.enabled=true for a trial",
        "hub.auth.type=password for a trial",
    ):
        assert value in error, f"{value!r} missing from:\n{error}"


def test_defaults_render_with_only_the_site_values():
    """values.yaml plus the values no chart can guess renders a complete release."""
    objects = render_example(
        "minimal",
        'postgresql={"bundled": {"enabled": false}}',
        'hub.db={"host": "db.example.com", "existingSecret": "podlab-db"}',
        'mlflow.db={"existingSecret": "podlab-db"}',
    )
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "ClusterRole", "Job"} <= kinds
    assert "StatefulSet" not in kinds, "the bundled database must be off unless asked for"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", EXAMPLES)
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
