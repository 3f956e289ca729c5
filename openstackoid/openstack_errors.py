"""OpenStack's JSON error body, for every answer openstackoid itself makes.

The proxy's errors and the registry's admin API answer in the one shape keystoneauth's
`from_response` reads (`error.message`). A module beside the packages, not in either: the
registry must not import the proxy, and both answer errors.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from aiohttp import web


def openstack_error(
    status: int, title: str | None, message: str, request_id: str | None = None
) -> web.Response:
    """An error answer in OpenStack's shape; `title` None: the status's standard phrase."""
    body = {
        "error": {
            "code": status,
            "title": title if title is not None else HTTPStatus(status).phrase,
            "message": message,
        }
    }
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        content_type="application/json",
        headers={"X-Openstack-Request-Id": request_id} if request_id else None,
    )
