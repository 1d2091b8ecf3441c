"""checkov over terraform/: no failed check except the committed, justified skip list.

checkov lives in its own virtual environment (tools/venv, linked as tools/bin/checkov) because
it pins old boto3/packaging. `--skip-download` keeps it offline.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from podlab.localstack.paths import SETUP_HINT, tool
from tests.terraform.harness import TERRAFORM_DIR

CONFIG = TERRAFORM_DIR / ".checkov.yaml"
SKIP_LINE = re.compile(r"^\s*-\s*(CKV\w+)\s*(?:#\s*(.*))?$")


def _checkov(directory: Path, *args: str) -> dict[str, Any]:
    executable = tool("checkov")
    if not Path(executable).exists() and shutil.which(executable) is None:
        pytest.fail(f"checkov not found. What to do: {SETUP_HINT}", pytrace=False)
    argv = [
        executable,
        "-d",
        str(directory),
        "--framework",
        "terraform",
        "-o",
        "json",
        "--compact",
        "--skip-download",
        *args,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode not in (0, 1):
        pytest.fail(f"checkov crashed ({proc.returncode}):\n{proc.stderr[-3000:]}", pytrace=False)
    report = json.loads(proc.stdout)
    if isinstance(report, list):  # one report per framework
        (report,) = [r for r in report if r.get("check_type") == "terraform"]
    assert isinstance(report, dict)
    return report


def _failures(report: dict[str, Any]) -> list[str]:
    return [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]}) "
        f"{c.get('check_name', '')}"
        for c in report["results"]["failed_checks"]
    ]


def _skip_list() -> dict[str, str]:
    """check id => justification, from the comments of the committed config."""
    skips: dict[str, str] = {}
    for line in CONFIG.read_text().splitlines():
        match = SKIP_LINE.match(line)
        if match:
            skips[match.group(1)] = (match.group(2) or "").strip()
    return skips


@pytest.fixture(scope="module")
def skips() -> dict[str, str]:
    config = yaml.safe_load(CONFIG.read_text())
    listed = config.get("skip-check", [])
    parsed = _skip_list()
    assert sorted(listed) == sorted(parsed), "every skip-check entry must be on its own line"
    return parsed


def test_skip_list_justified(skips: dict[str, str]):
    unjustified = [check for check, reason in skips.items() if len(reason) < 20]
    assert not unjustified, f"give each skipped check a one-line justification: {unjustified}"


def test_no_failed_checks_with_committed_skip_list(skips: dict[str, str]):
    report = _checkov(TERRAFORM_DIR, "--config-file", str(CONFIG))
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    assert report["summary"]["passed"] > 0, report["summary"]
    assert report["summary"]["failed"] == 0, "\n".join(_failures(report))


def test_every_skip_is_still_needed(skips: dict[str, str], tmp_path: Path):
    """Without the skip list exactly the skipped checks fail: no stale skip hides a fix."""
    # checkov always reads <dir>/.checkov.yaml, so scan a copy without it.
    copy = tmp_path / "terraform"
    shutil.copytree(
        TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".checkov.yaml", ".terraform*")
    )
    report = _checkov(copy)
    failing = {c["check_id"] for c in report["results"]["failed_checks"]}
    assert failing <= set(skips), "\n".join(_failures(report))
    assert set(skips) <= failing, (
        f"no longer failing, remove from the skip list: {set(skips) - failing}"
    )
