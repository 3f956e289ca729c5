"""python-openstackclient plugin: `--os-scope` / `--scope` / OS_SCOPE on every command.

OSC builds one keystoneauth session for all services and creates an openstacksdk
Connection on it before authenticating; the Connection runs the configured vendor_hook,
which puts the scope on the session's additional_headers. The hook is named through a
hidden global option, so no library code is patched.
"""

from __future__ import annotations

import argparse
from typing import Any

from osc_lib import utils

from openstackoid.cli_plugin.hook import HOOK_NAME
from openstackoid.cli_plugin.scope_value import ScopeAction, checked_scope

API_NAME = "scope"
API_VERSION_OPTION = "os_scope_api_version"
API_VERSIONS = {"1": "openstackoid.cli_plugin.plugin"}


def make_client(instance: Any) -> Any:
    """The `scope` commands need no API client: they read the scope from the options."""
    return None


def build_option_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from_env = utils.env("OS_SCOPE")
    parser.add_argument(
        "--os-scope",
        "--scope",
        metavar="<scope>",
        dest="os_scope",
        action=ScopeAction,
        default=checked_scope(parser, from_env, "OS_SCOPE") if from_env else None,
        help=(
            "Which cloud serves which service, e.g. "
            '"{keystone: cloud-1; glance: cloud-999}" (Env: OS_SCOPE)'
        ),
    )
    parser.add_argument(
        "--os-scope-api-version",
        metavar="<version>",
        default="1",
        help=argparse.SUPPRESS,
    )
    # Becomes the cloud config's `vendor_hook` (openstack.config strips the os_ prefix).
    parser.add_argument("--os-vendor-hook", default=HOOK_NAME, help=argparse.SUPPRESS)
    return parser
