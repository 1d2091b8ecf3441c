"""The `podlab` command: one entry point, one subcommand per task, one argparse style.

Each subcommand is a parser whose `func` default is the function that runs it and returns the
exit status, so adding one is a `_add_*` function and a line in `build_parser`. The local
platform's modules are imported only by the subcommands that start it, so `podlab validate`
and `podlab render` work where the `podlab[local]` extra is not installed (the hub image).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from podlab.config import ConfigError, load_config

# One rule for every subcommand; `podlab --help` and docs/admin-guide.md show it.
EXIT_CODES = """\
exit status:
  0  success (`validate`: the file is valid; `status`: every component is healthy)
  1  the check or the action failed: an invalid config for `validate`, a component that did
     not start or stop for `up`/`down`, a component not healthy for `status`
  2  bad input: an unknown option or argument, an unreadable or invalid config for `render`,
     an unknown profile
"""

Run = Callable[[argparse.Namespace], int]


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


def _render(args: argparse.Namespace) -> int:
    from podlab import render  # KubeSpawner and its client: the `podlab[hub]` extra

    return render.run(args)


def _local(args: argparse.Namespace) -> int:
    from podlab.localstack import stack  # the local platform: the `podlab[local]` extra

    return stack.run(args.command, config=args.config, data_dir=args.data_dir)


def _subcommand(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    func: Run,
) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=func)
    return parser


def _add_local(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str
) -> None:
    parser = _subcommand(commands, name, help_text, _local)
    parser.add_argument("--config", help="podlab.yaml (default: $PODLAB_CONFIG or ./podlab.yaml)")
    parser.add_argument("--data-dir", help="data dir (default: $PODLAB_DATA_DIR or ./.podlab)")


def _add_validate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(commands, "validate", "check a podlab config file", _validate)
    parser.add_argument("file", help="podlab.yaml, or a chart values file with a podlab: section")


def _add_render(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _subcommand(
        commands,
        "render",
        "print a user's namespace objects, PVC and pod as YAML (no cluster needed)",
        _render,
    )
    parser.add_argument("--config", required=True, help="podlab.yaml or chart values file")
    parser.add_argument("--profile", required=True, help="profile slug")
    parser.add_argument("--user", required=True, help="hub username (any spelling)")
    parser.add_argument(
        "--platform-namespace",
        default=None,
        help="namespace of the hub (default: network.platform_namespace, else 'podlab')",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podlab",
        description="podlab: run the platform locally, check a config, render a user's objects",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_local(commands, "up", "start the local platform (`make up`): data in ./.podlab")
    _add_local(commands, "down", "stop the local platform (`make down`); its data is kept")
    _add_local(commands, "status", "show each local component, its PID, URL and health")
    _add_validate(commands)
    _add_render(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    status: int = args.func(args)
    return status
