"""Show `--scope` in the help of the commands people scope most.

The global parser already consumes `--scope` wherever it appears on the command line
(cliff parses global options with parse_known_args before the command's own parser), so
this hook only documents it: the command-level option is never filled.
"""

from __future__ import annotations

import argparse

from cliff import hooks

HELP = (
    "Which cloud serves which service for this command, e.g. "
    '"{keystone: cloud-1; glance: cloud-999}" (same as the global --os-scope)'
)


class ScopeHelp(hooks.CommandHook):
    def get_parser(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        group = parser.add_argument_group("openstackoid")
        group.add_argument("--scope", metavar="<scope>", dest="openstackoid_scope", help=HELP)
        return parser

    def get_epilog(self) -> str:
        return ""

    def before(self, parsed_args: argparse.Namespace) -> argparse.Namespace:
        return parsed_args

    def after(self, parsed_args: argparse.Namespace, return_code: int) -> int:
        return return_code
