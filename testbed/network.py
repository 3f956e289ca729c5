"""Neutron v2.0: networks (list/create/show) and empty subnets/ports/extensions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from openstackoid.testbed.model import CloudState, stable_id
from openstackoid.testbed.paging import PagingError, neutron_links, neutron_page, parse_limit
from openstackoid.testbed.policy import CALLER, is_admin
from openstackoid.testbed.responses import json_response, neutron_error


def _network(project_id: str, network_id: str, name: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": network_id,
        "name": name,
        "status": "ACTIVE",
        "subnets": [],
        "admin_state_up": True,
        "tenant_id": project_id,
        "project_id": project_id,
        "shared": False,
        "router:external": False,
        "mtu": 1442,
        "availability_zones": ["nova"],
        "availability_zone_hints": [],
        "description": "",
        "port_security_enabled": True,
        "tags": [],
        "created_at": now,
        "updated_at": now,
        "revision_number": 1,
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "is_default": False,
        "l2_adjacency": True,
    }


def seed_networks(cloud: CloudState) -> dict[str, dict[str, Any]]:
    network = _network(cloud.project_id, stable_id(cloud.name, "network/private"), "private")
    return {network["id"]: network}


async def versions(request: web.Request, cloud: CloudState) -> web.Response:
    href = f"{cloud.info.base_url}/network/v2.0/"
    values = [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]
    return json_response({"versions": values})


_FILTERS = ("id", "name", "status", "shared", "project_id", "tenant_id")
_KINDS = {"networks": "Network", "subnets": "Subnet", "ports": "Port"}


def _listing(
    request: web.Request, cloud: CloudState, collection: str, items: list[dict[str, Any]]
) -> web.Response:
    """Neutron's answer to a list: sorted by id and paged when a limit is given."""
    try:
        limit = parse_limit(request.query, None, None)
    except PagingError:
        limit_text = request.query.get("limit")
        message = f"Limit must be an integer 0 or greater and not '{limit_text}'"
        return neutron_error(400, "BadRequest", message)
    if not limit:
        return json_response({collection: items})
    items = sorted(items, key=lambda item: str(item["id"]))
    page, found = neutron_page(items, request.query, limit)
    if not found:
        marker = request.query.get("marker")
        kind = _KINDS.get(collection, "Resource")
        return neutron_error(404, f"{kind}NotFound", f"{kind} {marker} could not be found.")
    url = f"{cloud.info.base_url}{request.path}"
    body = {
        collection: list(page),
        f"{collection}_links": neutron_links(url, request.query, page, limit),
    }
    return json_response(body)


async def list_networks(request: web.Request, cloud: CloudState) -> web.Response:
    # Neutron ORs the values of a repeated filter (id=a&id=b) and ANDs the filters.
    wanted = {
        k: {v.lower() for v in request.query.getall(k)} for k in _FILTERS if k in request.query
    }
    networks = [
        n
        for n in cloud.networks.values()
        if all(str(n.get(k)).lower() in values for k, values in wanted.items())
        and _visible(request, n)
    ]
    return _listing(request, cloud, "networks", networks)


def _visible(request: web.Request, network: dict[str, Any]) -> bool:
    """Neutron shows a project its own and shared networks; an admin sees all."""
    own = network["project_id"] == request[CALLER].project_id
    return own or bool(network.get("shared")) or is_admin(request)


async def show_network(request: web.Request, cloud: CloudState) -> web.Response:
    network = cloud.networks.get(request.match_info["network_id"])
    if network is None or not _visible(request, network):
        network_id = request.match_info["network_id"]
        return neutron_error(404, "NetworkNotFound", f"Network {network_id} could not be found.")
    return json_response({"network": network})


async def create_network(request: web.Request, cloud: CloudState) -> web.Response:
    try:
        fields = (await request.json())["network"]
    except (ValueError, KeyError, TypeError):
        return neutron_error(400, "HTTPBadRequest", "Resource body required.")
    if not isinstance(fields, dict):
        return neutron_error(400, "HTTPBadRequest", "Resource body required.")
    owner = request[CALLER].project_id or cloud.project_id
    network = _network(owner, str(uuid.uuid4()), str(fields.get("name", "")))
    network.update({k: v for k, v in fields.items() if k in ("description", "shared", "mtu")})
    cloud.networks[network["id"]] = network
    return json_response({"network": network}, 201)


async def empty_collection(request: web.Request, cloud: CloudState) -> web.Response:
    # The path says security-groups, the body security_groups.
    return _listing(request, cloud, request.match_info["collection"].replace("-", "_"), [])
