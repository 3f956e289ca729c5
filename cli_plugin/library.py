"""Library API: openstacksdk connections bound to a scope.

conn = connect(cloud="openstackoid", scope="{keystone: cloud-1; glance: cloud-2}")
with scoped(conn, "{glance: cloud-3}"):
    images = list(conn.image.images())
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openstack

from openstackoid.cli_plugin.hook import HOOK_NAME, SCOPE_HEADER, set_scope
from openstackoid.cli_plugin.scope_value import ScopeOption
from openstackoid.scope_dsl import parse_scope


def connect(cloud: str | None = None, scope: Any = None, **kwargs: Any) -> Any:
    """An openstacksdk Connection whose every request carries `scope` (else the cloud's
    clouds.yaml `scope:`)."""
    if isinstance(scope, str):
        # Checked here (a ScopeSyntaxError for the caller), and not a str in the config:
        # the hook warns about braced strings, which come from clouds.yaml then.
        scope = ScopeOption(scope, parse_scope(scope))
    if scope is not None:
        kwargs["scope"] = scope
    return openstack.connect(cloud=cloud, vendor_hook=HOOK_NAME, **kwargs)


@contextmanager
def scoped(connection: Any, scope: Any) -> Iterator[Any]:
    """Use another scope for the calls inside the block, then restore the previous one."""
    headers = connection.session.additional_headers
    previous = headers.get(SCOPE_HEADER)
    set_scope(connection.session, scope)
    try:
        yield connection
    finally:
        if previous is None:
            headers.pop(SCOPE_HEADER, None)
        else:
            headers[SCOPE_HEADER] = previous
