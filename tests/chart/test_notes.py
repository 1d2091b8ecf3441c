"""NOTES.txt tells the admin how to reach podlab and how to log in, for each way of exposing
it and each login mode (rendered by `helm install --dry-run=client`, no cluster needed)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from tests.chart.fake_kube import FakeKubernetes
from tests.chart.helm import CHART, DEFAULTS, NAMESPACE, RELEASE, helm, values_files


def _notes(name: str, *extra: str) -> str:
    values = [arg for path in values_files(name) for arg in ("--values", path)]
    result = helm(
        "install", RELEASE, str(CHART), "--namespace", NAMESPACE, *values,
        *(extra or ("--dry-run=client",)),
    )  # fmt: skip
    assert "NOTES:" in result.stdout
    return result.stdout.split("NOTES:", 1)[1]


def _secret(name: str, **data: str) -> dict[str, Any]:
    encoded = {
        key.replace("_", "-"): base64.b64encode(v.encode()).decode() for key, v in data.items()
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": encoded,
    }


def _against(kubeconfig: str) -> tuple[str, ...]:
    return ("--dry-run=server", "--disable-openapi-validation", "--kubeconfig", kubeconfig)


def test_default_notes_say_which_secrets_to_create():
    notes = _notes(DEFAULTS)
    assert "0. Create the Secrets it reads" in notes
    for command in (
        "kubectl -n podlab create secret generic podlab-hub-db "
        "--from-literal=password=... --from-literal=host=...",
        "kubectl -n podlab create secret generic podlab-mlflow-db "
        "--from-literal=password=... --from-literal=host=...",
        "kubectl -n podlab create secret generic podlab-oidc --from-literal=client-secret=...",
    ):
        assert command in notes, notes
    for key in ("authorize-url", "token-url", "userdata-url", "client-id"):
        assert f"--from-literal={key}=..." in notes


def test_notes_name_only_what_the_cluster_lacks(tmp_path: Path):
    """At install, helm's lookup sees the namespace: present Secrets and keys are not
    listed again (played against the fake API server, which answers lookups)."""
    fake = FakeKubernetes()
    fake.store(_secret("podlab-hub-db", password="p", host="db"))
    fake.store(_secret("podlab-mlflow-db", password="p"))
    fake.store(
        _secret(
            "podlab-oidc", client_secret="s", client_id="c", authorize_url="u",
            token_url="u", userdata_url="u",
        )
    )  # fmt: skip
    with fake.running():
        kubeconfig = str(fake.kubeconfig(tmp_path))
        notes = _notes(DEFAULTS, *_against(kubeconfig))
        assert "Secret podlab-mlflow-db: host not found in namespace podlab" in notes, notes
        assert "podlab-hub-db" not in notes
        assert "podlab-oidc" not in notes
        fake.store(_secret("podlab-mlflow-db", password="p", host="db"))
        complete = _notes(DEFAULTS, *_against(kubeconfig))
    assert "Create the Secrets" not in complete
    assert ("GET", "/api/v1/namespaces/podlab/secrets/podlab-oidc") in fake.requests


def test_trial_notes_give_port_forward_and_password_commands():
    notes = _notes("minimal")
    assert "kubectl -n podlab port-forward service/podlab-proxy-public 8080:80" in notes
    assert "get secret podlab-hub -o jsonpath='{.data.user-password}' | base64 -d" in notes
    assert "get secret podlab-hub -o jsonpath='{.data.admin-password}' | base64 -d" in notes
    assert "Do not use it in production" in notes
    assert "trials only" in notes
    assert "helm test podlab -n podlab" in notes


def test_production_notes_give_the_url_and_the_identity_provider():
    notes = _notes("production-eks")
    assert "Open https://podlab.example.com/" in notes
    assert 'Click "Sign in with Example SSO"' in notes
    assert "Only members of ml-engineers are let in." in notes
    assert "TRIAL MODE" not in notes
    assert "shared password" not in notes


def test_load_balancer_notes_say_how_to_find_the_address():
    notes = _notes("gpu-heavy")
    assert "kubectl -n podlab get service podlab-proxy-public -w" in notes
