"""`openstack scope url`: the auth_url with this command line's scope baked in."""

from __future__ import annotations

import argparse
from typing import Any

from osc_lib import exceptions
from osc_lib.command import command

from openstackoid.cli_plugin.errors import ScopeConfigError
from openstackoid.cli_plugin.scope_url import scoped_auth_url
from openstackoid.scope_dsl import ScopeError


class ScopeUrl(command.Command):
    """Print the auth_url with the scope in it, for clients without openstackoid's plugin"""

    auth_required = False

    def take_action(self, parsed_args: argparse.Namespace) -> Any:
        config = self.app.cloud.config if self.app.cloud is not None else {}
        auth_url = (config.get("auth") or {}).get("auth_url") or config.get("auth_url")
        scope = getattr(self.app.options, "os_scope", None) or config.get("scope")
        if not auth_url or not scope:
            raise exceptions.CommandError(
                "needs an auth_url (--os-cloud, --os-auth-url) and a scope "
                "(--scope, OS_SCOPE or clouds.yaml `scope:`)"
            )
        try:
            self.app.stdout.write(scoped_auth_url(str(auth_url), scope) + "\n")
        except (ScopeConfigError, ScopeError) as exc:
            raise exceptions.CommandError(str(exc)) from None
