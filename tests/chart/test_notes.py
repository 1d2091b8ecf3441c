"""NOTES.txt tells the admin how to reach podlab and how to log in, for each way of exposing
it and each login mode (rendered by `helm install --dry-run=client`, no cluster needed)."""

from __future__ import annotations

from tests.chart.helm import CHART, NAMESPACE, RELEASE, example, helm


def _notes(name: str) -> str:
    result = helm(
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--values",
        str(example(name)),
        "--dry-run=client",
    )
    assert "NOTES:" in result.stdout
    return result.stdout.split("NOTES:", 1)[1]


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
    assert "password" not in notes.lower()


def test_load_balancer_notes_say_how_to_find_the_address():
    notes = _notes("gpu-heavy")
    assert "kubectl -n podlab get service podlab-proxy-public -w" in notes
