"""checkov finds nothing in the rendered chart beyond the committed, justified skip list.

checkov runs once, on every example's manifests (hooks and test pods included), from its
own virtual environment (tools/bin/checkov: it pins old boto3/packaging). A finding not in
charts/podlab/checkov-skips.yaml fails, and so does a listed finding on an object outside
the entry's `only` list: a skip covers the objects it was justified for, not new ones.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from podlab.localstack.paths import SETUP_HINT, tool
from tests.chart.helm import CHART, RENDERS, helm, template_args, values_files

SKIPS_FILE = CHART / "checkov-skips.yaml"


@pytest.fixture(scope="module")
def findings(tmp_path_factory) -> list[dict[str, Any]]:
    checkov = tool("checkov")
    if shutil.which(checkov) is None:
        pytest.fail(f"checkov is not installed: {SETUP_HINT}")
    directory = tmp_path_factory.mktemp("rendered")
    for name in RENDERS:
        rendered = helm(*template_args(values_files(name))).stdout
        (directory / f"{name}.yaml").write_text(rendered)
    result = subprocess.run(
        [
            checkov,
            *("--directory", str(directory), "--framework", "kubernetes"),
            *("--output", "json", "--quiet", "--skip-download"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode not in (0, 1) or not result.stdout.strip():
        pytest.fail(f"checkov did not run (exit {result.returncode}):\n{result.stderr[-3000:]}")
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    summary = reports[0]["summary"]
    assert summary["passed"] > 100, "checkov checked (almost) nothing: did the render fail?"
    assert summary["parsing_errors"] == 0, summary
    return [f for r in reports for f in r["results"]["failed_checks"]]


def _object(resource: str) -> str:
    """checkov's "Deployment.podlab.podlab-hub" -> "Deployment/podlab-hub"."""
    kind, _namespace, name = resource.split(".", 2)
    return f"{kind}/{name}"


def test_skip_list_justifies_every_entry():
    skips = yaml.safe_load(SKIPS_FILE.read_text())
    for check, entry in skips.items():
        why = entry["why"]
        assert why, f"{check}: no justification"
        assert "\n" not in why.strip(), f"{check}: one line of justification"
        assert set(entry) <= {"why", "only"}, check


def test_no_checkov_finding_outside_the_skip_list(findings):
    skips = yaml.safe_load(SKIPS_FILE.read_text())
    problems = []
    for finding in findings:
        check, obj = finding["check_id"], _object(finding["resource"])
        entry = skips.get(check)
        if entry is None:
            problems.append(f"{check} ({finding['check_name']}) on {obj}")
        elif "only" in entry and obj not in entry["only"]:
            problems.append(f"{check} on {obj}: skipped only for {entry['only']}")
    assert not problems, "checkov findings:\n" + "\n".join(sorted(set(problems)))


def test_every_skip_is_still_needed(findings):
    skips = yaml.safe_load(SKIPS_FILE.read_text())
    seen = {f["check_id"] for f in findings}
    assert not set(skips) - seen, f"no longer needed, remove: {sorted(set(skips) - seen)}"
