"""The `openstackoid` command: one subcommand per package, each registered by its `cli.py`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib import metadata

# Each module exposes register(subparsers); commands set `func(args) -> int` as a default.
_COMMAND_MODULES = (
    "openstackoid.testbed.cli",
    "openstackoid.proxy.cli",
    "openstackoid.registry.cli",
    "openstackoid.cli_plugin.cli",
)
USAGE_ERROR = 2
"""Exit code of a command given something it cannot use (argparse's own code for it)."""


class CommandError(Exception):
    """What the user got wrong and what to do, printed as one line instead of a traceback."""


def describe_error(exc: BaseException) -> str:
    """An exception as a sentence for a user: a missing file is named, nothing else added."""
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename}: no such file"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default: argparse's own, where the help text does
    not say it already (a None default means "none" or "the config file's": said by hand)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "(default" in text or action.default in (None, argparse.SUPPRESS):
            return text
        if not action.option_strings:
            return text  # a positional has no default
        return text + " (default: %(default)s)"


def _version() -> str:
    try:
        return metadata.version("openstackoid")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openstackoid",
        description="Federation proxy for many independent OpenStack clouds.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"openstackoid {_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a package without commands yet
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except CommandError as exc:
        print(f"openstackoid {args.command}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    return result


if __name__ == "__main__":
    # As `python -m openstackoid.cli` this file is __main__, and the commands raise the
    # CommandError of the module `openstackoid.cli`: run that module's main.
    from openstackoid.cli import main as module_main

    sys.exit(module_main())
