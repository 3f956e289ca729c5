"""`openstack scope show` and `openstack scope check`."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

import requests
from osc_lib import exceptions
from osc_lib.command import command

from openstackoid.cli_plugin.scope_value import scope_from_config
from openstackoid.scope_dsl import Scope, ScopeSyntaxError, parse_scope

COLUMNS = ("Service", "Clouds")


def _rows(scope: Scope) -> tuple[tuple[str, ...], list[tuple[str, str]]]:
    return COLUMNS, [(entry.service_type, str(entry.expr)) for entry in scope.entries]


class ShowScope(command.Lister):
    """Show the scope every request of this command line carries"""

    auth_required = False

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        value = getattr(self.app.options, "os_scope", None)
        if value is None and self.app.cloud is not None:
            value = self.app.cloud.config.get("scope")
        scope = scope_from_config(value)
        if scope is None:
            raise exceptions.CommandError(
                "No scope set: use --os-scope, OS_SCOPE or `scope:` in clouds.yaml"
            )
        return _rows(scope)


class CheckScope(command.Lister):
    """Check a scope and show which cloud expression serves each service"""

    auth_required = False

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("scope", metavar="<scope>", help="Scope to check")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        try:
            scope = parse_scope(parsed_args.scope)
        except ScopeSyntaxError as exc:
            raise exceptions.CommandError(str(exc)) from None
        plans = self._ask_proxy(str(scope))
        if plans is None:
            return _rows(scope)
        rows = [(service, json.dumps(plan["plan"])) for service, plan in plans.items()]
        return ("Service", "Clouds (resolved by the proxy)"), rows

    def _ask_proxy(self, scope: str) -> dict[str, Any] | None:
        """The proxy's resolution of the scope against its registry, if it can be reached."""
        cloud = getattr(self.app, "cloud", None)
        if cloud is None:
            return None
        config = cloud.config
        # From --os-cloud the URL sits in `auth`; from --os-auth-url / OS_AUTH_URL, before
        # auth is validated (auth_required is False), it is still a top-level key.
        auth_url = (config.get("auth") or {}).get("auth_url") or config.get("auth_url")
        if not auth_url:
            return None
        base = re.sub(r"/identity(/v3)?/?$", "", str(auth_url).rstrip("/"))
        verify = config.get("cacert") or config.get("verify", True)
        try:
            response = requests.get(
                f"{base}/_openstackoid/scope",
                headers={"X-Scope": scope},
                timeout=10,
                verify=verify,
            )
        except requests.RequestException:
            return None
        body = (
            response.json()
            if response.headers.get("Content-Type", "").startswith("application/json")
            else {}
        )
        if response.status_code != 200:
            message = (body.get("error") or {}).get("message", response.text)
            raise exceptions.CommandError(f"the proxy refused the scope: {message}")
        services: dict[str, Any] = body["services"]
        return services
