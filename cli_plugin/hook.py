"""Put the scope on every request of an openstacksdk / OSC session.

keystoneauth's Session.additional_headers applies to every request, token and discovery
included; openstacksdk runs a `vendor_hook` with each new Connection, before any request.
"""

from __future__ import annotations

from typing import Any

from openstack.config import loader

from openstackoid.cli_plugin.hook_checks import (
    scope_errors_reach_the_user,
    warn_where_the_scope_may_not_apply,
)
from openstackoid.cli_plugin.partial import warn_on_partial_results
from openstackoid.cli_plugin.scope_value import scope_from_config

SCOPE_HEADER = "X-Scope"
HOOK_NAME = "openstackoid.cli_plugin.hook:attach_scope"

# openstack.config formats every string config value with str.format(**config); a scope
# string from clouds.yaml or OS_SCOPE ("{keystone: cloud-1}") would raise KeyError there.
# FORMAT_EXCLUSIONS is the loader's own list of keys it must not format.
if "scope" not in loader.FORMAT_EXCLUSIONS:
    loader.FORMAT_EXCLUSIONS = loader.FORMAT_EXCLUSIONS | {"scope"}


def set_scope(session: Any, scope: Any) -> None:
    """Send `scope` (text, mapping or parsed) on every request of a keystoneauth session."""
    parsed = scope_from_config(scope)
    if parsed is None:
        session.additional_headers.pop(SCOPE_HEADER, None)
    else:
        session.additional_headers[SCOPE_HEADER] = str(parsed)


def attach_scope(connection: Any) -> None:
    """The vendor_hook: the cloud config's `scope` (from --os-scope, OS_SCOPE or
    clouds.yaml) becomes the X-Scope header of the connection's session, whose fanned-out
    answers missing some clouds are then logged as warnings."""
    config = connection.config.config
    with scope_errors_reach_the_user():  # not openstacksdk's unrelated "Hook should be ..."
        set_scope(connection.session, config.get("scope"))
    warn_where_the_scope_may_not_apply(config, scope_from_config(config.get("scope")))
    warn_on_partial_results(connection.session)
