"""Keystone v3's catalog resources, /v3/services and /v3/endpoints, as the openstack CLI
reads them (`endpoint list|show`, `service list`): the token catalog's data, flattened.
Listing and showing them needs `admin`, as Keystone's default policy says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from openstackoid.testbed.directory import DirectoryError
from openstackoid.testbed.identity import catalog
from openstackoid.testbed.identity_admin import Handler, _require_admin, listing
from openstackoid.testbed.model import CloudState
from openstackoid.testbed.responses import json_response
from openstackoid.testbed.tokens import TokenBook, TokenRecord


def _services(cloud: CloudState) -> list[dict[str, Any]]:
    return [
        {
            "id": entry["id"],
            "type": entry["type"],
            "name": entry["name"],
            "enabled": True,
            "links": {"self": f"{cloud.info.auth_url}/services/{entry['id']}"},
        }
        for entry in catalog(cloud)
    ]


def _endpoints(cloud: CloudState) -> list[dict[str, Any]]:
    return [
        {
            **endpoint,
            "service_id": entry["id"],
            "enabled": True,
            "links": {"self": f"{cloud.info.auth_url}/endpoints/{endpoint['id']}"},
        }
        for entry in catalog(cloud)
        for endpoint in entry["endpoints"]
    ]


def _filtered(
    rows: list[dict[str, Any]], request: web.Request, keys: tuple[str, ...]
) -> list[dict[str, Any]]:
    wanted = {k: request.query[k] for k in keys if k in request.query}
    return [row for row in rows if all(row.get(k) == v for k, v in wanted.items())]


def _resource(
    kind: str, rows_of: Callable[[CloudState], list[dict[str, Any]]], filters: tuple[str, ...]
) -> tuple[Handler, Handler]:
    """GET /<kind>s (filtered by the query keys in `filters`) and GET /<kind>s/{<kind>_id}."""

    async def list_rows(
        request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
    ) -> web.Response:
        _require_admin(caller, f"list_{kind}s")
        return listing(request, f"{kind}s", _filtered(rows_of(cloud), request, filters))

    async def show_row(
        request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
    ) -> web.Response:
        _require_admin(caller, f"get_{kind}")
        wanted = request.match_info[f"{kind}_id"]
        for row in rows_of(cloud):
            if row["id"] == wanted:
                return json_response({kind: row})
        raise DirectoryError(404, f"Could not find {kind}: {wanted}.")

    return list_rows, show_row


list_services, show_service = _resource("service", _services, ("type", "name"))
list_endpoints, show_endpoint = _resource(
    "endpoint", _endpoints, ("interface", "service_id", "region_id")
)


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/services", list_services),
    ("GET", "/services/{service_id}", show_service),
    ("GET", "/endpoints", list_endpoints),
    ("GET", "/endpoints/{endpoint_id}", show_endpoint),
]
