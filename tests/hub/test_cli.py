"""The `podlab` command as a user meets it: `--help` on every subcommand, the documented exit
codes, bad input answered with usage and status 2, and only commands that exist named in
what `make up` prints. `validate`'s and `render`'s outputs are tested in test_config.py and
test_render.py; `up` against a real platform in tests/e2e/test_launcher.py."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from podlab.cli import EXIT_CODES, build_parser, main
from podlab.localstack.paths import REPO_ROOT
from tests.hub.k8s_helpers import EXAMPLE_CONFIG, PODLAB_CLI

SUBCOMMANDS = ["up", "down", "status", "validate", "render"]


def _podlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PODLAB_CLI, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_subcommands_are_the_documented_ones():
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(commands.choices) == SUBCOMMANDS
    assert parser.format_usage() == "usage: podlab [-h] COMMAND ...\n"


@pytest.mark.parametrize("command", [None, *SUBCOMMANDS])
def test_help_exits_0_and_documents_the_exit_codes(command: str | None, capsys):
    argv = ["--help"] if command is None else [command, "--help"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: podlab {command or ''}".rstrip())
    assert EXIT_CODES in out


def test_the_console_script_and_python_m_podlab_are_the_same_command():
    script = _podlab("--help")
    module = subprocess.run(
        [sys.executable, "-m", "podlab", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert script.returncode == module.returncode == 0
    assert script.stdout == module.stdout


def test_the_docs_state_the_same_exit_codes():
    text = (REPO_ROOT / "docs" / "development.md").read_text()
    for status in (
        "exits 0 on success",
        "1 when the check or\nthe action failed",
        "2 on bad input",
    ):
        assert status in text


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["start"], "invalid choice: 'start'"),
        (["validate"], "the following arguments are required: file"),
        (["validate", str(EXAMPLE_CONFIG), "--strict"], "unrecognized arguments: --strict"),
        (["render", "--config", str(EXAMPLE_CONFIG)], "required: --profile, --user"),
        (["up", "--port", "1"], "unrecognized arguments: --port 1"),
        (["status", "extra"], "unrecognized arguments: extra"),
    ],
)
def test_bad_usage_exits_2_with_the_usage(argv: list[str], complaint: str, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: podlab")
    assert complaint in err


def test_up_with_an_invalid_config_exits_1_and_starts_nothing(tmp_path: Path, capsys):
    bad = tmp_path / "podlab.yaml"
    bad.write_text("profiles: []\n")
    data_dir = tmp_path / "data"
    status = main(["up", "--config", str(bad), "--data-dir", str(data_dir)])
    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith(f"podlab up: invalid podlab config in {bad}:")
    assert f"Fix {bad} and run `make up` again." in err
    assert not data_dir.exists()


def test_status_and_down_of_a_platform_that_never_ran(tmp_path: Path, capsys):
    argv = ["--config", str(EXAMPLE_CONFIG), "--data-dir", str(tmp_path)]
    assert main(["status", *argv]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines[1:]] == [
        [name, "-", "stopped"] for name in ("postgresql", "s3", "mlflow", "jupyterhub")
    ]
    assert main(["down", *argv]) == 0
    assert capsys.readouterr().out == "podlab is not running\n"


def test_the_launcher_names_only_commands_that_exist():
    """`make up` once printed "`podlab status` shows each component" when there was none."""
    source = (REPO_ROOT / "hub" / "src" / "podlab" / "localstack" / "stack.py").read_text()
    makefile = (REPO_ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))
    named = re.findall(r"`(make|podlab) ([a-z-]+)", source)
    assert named
    for tool, command in named:
        known = targets if tool == "make" else set(SUBCOMMANDS)
        assert command in known, f"stack.py names `{tool} {command}`, which does not exist"
