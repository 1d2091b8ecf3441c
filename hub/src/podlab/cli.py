"""The `podlab` command: one entry point, one subcommand per task.

Each subcommand registers itself in `SUBCOMMANDS` with a function that adds its arguments and
a function that runs it and returns the exit status, so adding one is two functions and a
line here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from podlab import render
from podlab.config import ConfigError, load_config

AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]


def _validate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="podlab.yaml, or a chart values file with a podlab: section")


def _validate(args: argparse.Namespace) -> int:
    """Exit 0 and a one-line summary, or 1 and one line per problem (field, value, allowed)."""
    try:
        config = load_config(args.file)
    except ConfigError as err:
        print(f"{args.file}: invalid podlab config", file=sys.stderr)
        for line in err.errors:
            print(f"  - {line}", file=sys.stderr)
        return 1
    slugs = ", ".join(p.slug for p in config.profiles)
    count = len(config.profiles)
    print(f"{args.file}: OK — {count} profile{'s' if count != 1 else ''}: {slugs}")
    return 0


SUBCOMMANDS: dict[str, tuple[str, AddArguments, Run]] = {
    "validate": ("check a podlab config file", _validate_arguments, _validate),
    "render": (
        "print a user's namespace objects, PVC and pod as YAML (no cluster needed)",
        render.add_arguments,
        render.run,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="podlab", description="podlab hub tools")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        add_arguments(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
