"""Fixtures of the Terraform tests: one initialised copy of terraform/ per session.

`terraform init` (from the plugin mirror) runs once and `terraform test` twice: quietly for the
module test files, and with -verbose for the files whose checks need more than pass/fail (the
validation messages of rejected inputs are only reported with -verbose, and the helm_values
run prints its state). Verbose output carries the provider schema per run (~15 MB), hence
the split. Every pytest test reads its part of the merged report.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from podlab.localstack.paths import new_work_dir
from tests.terraform.harness import (
    VERBOSE_TESTS,
    TestReport,
    Workdir,
    init_workdir,
    terraform_environment,
)


@pytest.fixture(scope="session")
def tf_workdir() -> Iterator[Workdir]:
    """terraform/ copied to a temp dir and initialised (providers from the mirror)."""
    root = new_work_dir("terraform")
    try:
        with terraform_environment(root) as mirror:
            yield init_workdir(root / "terraform", mirror)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def tf_test_report(tf_workdir: Workdir) -> TestReport:
    """`terraform test` over every file of terraform/tests (two invocations, one report)."""
    files = sorted(
        f"tests/{path.name}" for path in (tf_workdir.path / "tests").glob("*.tftest.hcl")
    )
    quiet = [name for name in files if name not in VERBOSE_TESTS]
    verbose = [name for name in files if name in VERBOSE_TESTS]
    return TestReport.merge(tf_workdir.test(*quiet), tf_workdir.test(*verbose, verbose=True))
