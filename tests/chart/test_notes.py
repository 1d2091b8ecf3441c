"""NOTES.txt tells the admin how to reach podlab and how to log in, for each way of exposing
it and each login mode (rendered by `helm install --dry-run=client`, no cluster needed)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from tests.chart.helm import CHART, DEFAULTS, NAMESPACE, RELEASE, helm, values_files
from tests.support.fake_kube import FakeKubeAPI


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
    """helm talks to the fake API server: lookups are answered, nothing is created."""
    return ("--dry-run=server", "--disable-openapi-validation", "--kubeconfig", kubeconfig)


def test_default_notes_say_which_secrets_to_create():
    """Rendered without a cluster nothing could be checked: the notes list what must exist."""
    notes = _notes(DEFAULTS)
    assert "0. Before installing, create the Secrets it reads" in notes
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


def test_notes_keep_their_layout_when_no_secret_is_needed():
    lines = _notes("minimal").strip("\n").splitlines()
    assert lines[0] == "podlab 0.3.0 is installed as release podlab in namespace podlab."
    assert lines[1:3] == ["", "1. Reach it"]
    assert "Before installing" not in "\n".join(lines)


def test_install_is_refused_until_the_secrets_exist(tmp_path: Path):
    """With a cluster to ask, a missing Secret or key stops `helm install` before anything is
    created (the pre-install migration hook would otherwise wait for it until helm's timeout);
    played against the fake API server, which answers helm's lookups."""
    fake = FakeKubeAPI()
    fake.store(_secret("podlab-hub-db", password="p", host="db"))
    fake.store(_secret("podlab-oidc", client_secret="s", client_id="c", authorize_url="u"))
    with fake.running():
        kubeconfig = str(fake.kubeconfig(tmp_path))
        values = ("--namespace", NAMESPACE, *_against(kubeconfig))
        refused = helm("install", RELEASE, str(CHART), *values, check=False)
        assert refused.returncode != 0
        assert "podlab: invalid values:" in refused.stderr
        assert (
            "Secret podlab-mlflow-db does not exist in namespace podlab: create it before "
            "installing: kubectl -n podlab create secret generic podlab-mlflow-db "
            "--from-literal=password=... --from-literal=host=..."
        ) in refused.stderr
        assert (
            "Secret podlab-oidc in namespace podlab has no key token-url, no key userdata-url: "
            "add them (kubectl -n podlab edit secret podlab-oidc)"
        ) in refused.stderr
        assert "podlab-hub-db" not in refused.stderr
        fake.store(_secret("podlab-mlflow-db", password="p", host="db"))
        fake.store(
            _secret(
                "podlab-oidc", client_secret="s", client_id="c", authorize_url="u",
                token_url="u", userdata_url="u",
            )
        )  # fmt: skip
        notes = _notes(DEFAULTS, *_against(kubeconfig))
    assert "Before installing" not in notes, "everything exists: nothing to create"
    assert fake.saw("GET", "/api/v1/namespaces/podlab/secrets")


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
