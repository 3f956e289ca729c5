"""Keystone v3's catalog resources, /v3/services and /v3/endpoints, as the openstack CLI
reads them (`endpoint list|show`, `service list`): the token catalog's data, flattened.
Listing and showing them needs `admin`, as Keystone's default policy says."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from openstackoid.testbed.directory import DirectoryError
from openstackoid.testbed.identity import catalog
from openstackoid.testbed.identity_admin import Handler, _links, _require_admin
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


async def list_services(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    _require_admin(caller, "list_services")
    rows = _filtered(_services(cloud), request, ("type", "name"))
    return json_response({"services": rows, "links": _links(request)})


async def show_service(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    _require_admin(caller, "get_service")
    wanted = request.match_info["service_id"]
    for row in _services(cloud):
        if row["id"] == wanted:
            return json_response({"service": row})
    raise DirectoryError(404, f"Could not find service: {wanted}.")


async def list_endpoints(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    _require_admin(caller, "list_endpoints")
    rows = _filtered(_endpoints(cloud), request, ("interface", "service_id", "region_id"))
    return json_response({"endpoints": rows, "links": _links(request)})


async def show_endpoint(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    _require_admin(caller, "get_endpoint")
    wanted = request.match_info["endpoint_id"]
    for row in _endpoints(cloud):
        if row["id"] == wanted:
            return json_response({"endpoint": row})
    raise DirectoryError(404, f"Could not find endpoint: {wanted}.")


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/services", list_services),
    ("GET", "/services/{service_id}", show_service),
    ("GET", "/endpoints", list_endpoints),
    ("GET", "/endpoints/{endpoint_id}", show_endpoint),
]
