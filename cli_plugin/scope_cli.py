"""`openstackoid scope url` and `openstackoid scope bake`: a scope any client obeys.

openstackoid scope url --os-cloud fed --scope "keystone: cloud-1; glance: cloud-2"
http://proxy:8080/scope/identity:cloud-1;image:cloud-2/identity/v3
openstackoid scope bake --os-cloud fed     # clouds.yaml: `scope:` moved into auth_url
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from openstackoid.cli import HelpFormatter
from openstackoid.cli_plugin import hook  # noqa: F401 - lets openstack.config read a braced `scope:`
from openstackoid.cli_plugin.errors import ScopeConfigError
from openstackoid.cli_plugin.scope_url import bake_cloud_entry, scoped_auth_url
from openstackoid.scope_dsl import ScopeError


def _cloud_config(name: str) -> tuple[dict[str, Any], str | None]:
    """The cloud's merged config as openstacksdk sees it, and the clouds.yaml it came from."""
    from openstack.config import OpenStackConfig
    from openstack.config.exceptions import OpenStackConfigException

    try:
        config = OpenStackConfig()
        region = config.get_one(cloud=name)
    except OpenStackConfigException as exc:
        raise ScopeConfigError(str(exc)) from None
    return dict(region.config), config.config_filename


def _url(args: argparse.Namespace) -> int:
    cloud: dict[str, Any] = {}
    if args.os_cloud:
        cloud, _ = _cloud_config(args.os_cloud)
    auth_url = args.auth_url or (cloud.get("auth") or {}).get("auth_url")
    if not auth_url:
        raise ScopeConfigError("no auth_url: give --os-auth-url or --os-cloud")
    scope = args.scope or os.environ.get("OS_SCOPE") or cloud.get("scope")
    if not scope:
        raise ScopeConfigError("no scope: give --scope, OS_SCOPE or the cloud's `scope:`")
    print(scoped_auth_url(str(auth_url), scope))
    return 0


def _bake(args: argparse.Namespace) -> int:
    _, filename = _cloud_config(args.os_cloud)
    path = Path(args.clouds_yaml or filename or "")
    if not path.is_file():
        raise ScopeConfigError(f"no clouds.yaml found for cloud {args.os_cloud!r}")
    document = yaml.safe_load(path.read_text()) or {}
    entry = (document.get("clouds") or {}).get(args.os_cloud)
    if not isinstance(entry, dict):
        raise ScopeConfigError(f"{path} has no cloud {args.os_cloud!r}")
    baked = bake_cloud_entry(entry, args.scope)
    document["clouds"][args.os_cloud] = baked
    if args.dry_run:
        print(yaml.safe_dump({"clouds": {args.os_cloud: baked}}, sort_keys=False), end="")
        return 0
    # PyYAML keeps no comments: the original stays beside it.
    path.with_name(path.name + ".bak").write_text(path.read_text())
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(yaml.safe_dump(document, sort_keys=False))
    os.chmod(temporary, path.stat().st_mode & 0o777)  # a clouds.yaml holds passwords
    temporary.replace(path)
    print(f"{path}: cloud {args.os_cloud!r} auth_url is now {baked['auth']['auth_url']}")
    return 0


def _guarded(action: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            result: int = action(args)
        except (ScopeConfigError, ScopeError) as exc:
            # Plain stderr: a scope error's caret must stay under its text.
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return result

    return run


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scope",
        help="a scope in the auth_url, for clients without openstackoid's plugin",
        formatter_class=HelpFormatter,
    )
    commands = parser.add_subparsers(dest="scope_command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(
            name, help=text, description=text, formatter_class=HelpFormatter
        )
        return sub

    url = command("url", "print the auth_url with the scope baked in")
    url.add_argument(
        "--os-cloud", "--cloud", dest="os_cloud", help="a clouds.yaml cloud (default: none)"
    )
    url.add_argument(
        "--os-auth-url",
        "--auth-url",
        dest="auth_url",
        help="the proxy's auth_url (default: the cloud's)",
    )
    url.add_argument("--scope", help="scope or named scope (default: OS_SCOPE, then `scope:`)")
    url.set_defaults(func=_guarded(_url))
    bake = command("bake", "rewrite a clouds.yaml cloud: its `scope:` moves into its auth_url")
    bake.add_argument(
        "--os-cloud", "--cloud", dest="os_cloud", required=True, help="the cloud (required)"
    )
    bake.add_argument("--clouds-yaml", help="the file (default: the one openstacksdk reads)")
    bake.add_argument("--scope", help="bake this scope (default: the entry's `scope:`)")
    bake.add_argument("--dry-run", action="store_true", help="print the entry, change nothing")
    bake.set_defaults(func=_guarded(_bake))
