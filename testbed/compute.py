"""Nova v2.1: discovery with microversions, flavors, servers; image checked like real Nova."""

from __future__ import annotations

import itertools
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from openstackoid.testbed.model import FLAVORS, CloudState
from openstackoid.testbed.nova_calls import NovaCalls
from openstackoid.testbed.paging import (
    NOVA_MAX_LIMIT,
    PagingError,
    after_marker,
    nova_links,
    parse_limit,
)
from openstackoid.testbed.policy import CALLER, is_admin
from openstackoid.testbed.responses import json_response, nova_error

MIN_VERSION = "2.1"
MAX_VERSION = "2.96"
_SERIALS = itertools.count()
"""Orders servers created within one second (Nova's created_at has microseconds)."""
ACTIVE_AFTER = 0.2
"""Seconds a new server stays in BUILD, so `--wait` sees a real transition."""


def microversion(request: web.Request) -> tuple[int, int]:
    header = request.headers.get("OpenStack-API-Version", "")
    value = header.removeprefix("compute").strip() if header.startswith("compute") else ""
    value = value or request.headers.get("X-OpenStack-Nova-API-Version", MIN_VERSION)
    if value == "latest":
        value = MAX_VERSION
    try:
        major, minor = (int(part) for part in value.split("."))
    except ValueError:
        return 2, 1
    return major, minor


def versioned(request: web.Request, response: web.Response) -> web.Response:
    major, minor = microversion(request)
    response.headers["OpenStack-API-Version"] = f"compute {major}.{minor}"
    response.headers["X-OpenStack-Nova-API-Version"] = f"{major}.{minor}"
    response.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
    return response


def _version_doc(cloud: CloudState) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": MAX_VERSION,
        "min_version": MIN_VERSION,
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{cloud.info.base_url}/compute/v2.1/"}],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }


async def versions(request: web.Request, cloud: CloudState) -> web.Response:
    return json_response({"versions": [_version_doc(cloud)]})


async def version(request: web.Request, cloud: CloudState) -> web.Response:
    return json_response({"version": _version_doc(cloud)})


def _flavor(cloud: CloudState, row: tuple[str, str, int, int, int], detail: bool) -> dict[str, Any]:
    flavor_id, name, ram, disk, vcpus = row
    href = f"{cloud.info.base_url}/compute/v2.1/flavors/{flavor_id}"
    body: dict[str, Any] = {
        "id": flavor_id,
        "name": name,
        "links": [{"rel": "self", "href": href}],
        "description": None,
    }
    if detail:
        body.update(
            {
                "ram": ram,
                "disk": disk,
                "vcpus": vcpus,
                "swap": 0,
                "OS-FLV-EXT-DATA:ephemeral": 0,
                "OS-FLV-DISABLED:disabled": False,
                "os-flavor-access:is_public": True,
                "rxtx_factor": 1.0,
                "extra_specs": {},
            }
        )
    return body


def _find_flavor(flavor_id: str) -> tuple[str, str, int, int, int] | None:
    ref = flavor_id.rstrip("/").rsplit("/", 1)[-1]
    return next((row for row in FLAVORS if row[0] == ref), None)


def _paged(
    request: web.Request, cloud: CloudState, items: list[dict[str, Any]], key: str
) -> tuple[list[dict[str, Any]], list[dict[str, str]]] | web.Response:
    """Nova's page of `items` (already in Nova's order) and its links, or a 400."""
    try:
        limit = parse_limit(request.query, NOVA_MAX_LIMIT, NOVA_MAX_LIMIT) or NOVA_MAX_LIMIT
    except PagingError as exc:
        return nova_error(exc.status, str(exc))
    marker = request.query.get("marker")
    rest = after_marker(items, marker, key)
    if rest is None:
        return nova_error(400, f"marker [{marker}] not found")
    page = list(rest[:limit])
    collection = request.path.removeprefix("/compute/v2.1/")
    url = f"{cloud.info.base_url}/compute/v2.1/{collection}"
    return page, nova_links(url, request.query, page, limit, key)


async def flavors(request: web.Request, cloud: CloudState) -> web.Response:
    detail = request.path.endswith("/detail")
    rows = [{"id": row[0], "row": row} for row in sorted(FLAVORS)]  # Nova sorts by flavorid
    paged = _paged(request, cloud, rows, "id")
    if isinstance(paged, web.Response):
        return paged
    page, links = paged
    body: dict[str, Any] = {"flavors": [_flavor(cloud, item["row"], detail) for item in page]}
    if links:
        body["flavors_links"] = links
    return versioned(request, json_response(body))


async def show_flavor(request: web.Request, cloud: CloudState) -> web.Response:
    row = _find_flavor(request.match_info["flavor_id"])
    if row is None:
        return nova_error(404, f"Flavor {request.match_info['flavor_id']} could not be found.")
    return versioned(request, json_response({"flavor": _flavor(cloud, row, True)}))


async def flavor_extra_specs(request: web.Request, cloud: CloudState) -> web.Response:
    return versioned(request, json_response({"extra_specs": {}}))


def _server_view(request: web.Request, cloud: CloudState, server: dict[str, Any]) -> dict[str, Any]:
    if server["status"] == "BUILD" and time.monotonic() - server["_created"] >= ACTIVE_AFTER:
        server.update(
            status="ACTIVE", **{"OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": 1}
        )
    view = {k: v for k, v in server.items() if not k.startswith("_")}
    row = _find_flavor(server["_flavor_id"])
    assert row is not None
    if microversion(request) >= (2, 47):
        view["flavor"] = {
            "vcpus": row[4],
            "ram": row[2],
            "disk": row[3],
            "ephemeral": 0,
            "swap": 0,
            "original_name": row[1],
            "extra_specs": {},
        }
    else:
        view["flavor"] = {"id": row[0], "links": _flavor(cloud, row, False)["links"]}
    return view


async def create_server(request: web.Request, cloud: CloudState, calls: NovaCalls) -> web.Response:
    try:
        body = (await request.json())["server"]
        name, image_ref, flavor_ref = body["name"], body.get("imageRef", ""), body["flavorRef"]
    except (ValueError, KeyError, TypeError):
        return nova_error(400, "Invalid input for field/attribute server.")
    if not isinstance(name, str) or not 1 <= len(name) <= 255:
        return nova_error(400, "Invalid input for field/attribute name.")
    row = _find_flavor(str(flavor_ref))
    if row is None:
        return nova_error(400, f"Flavor {flavor_ref} could not be found.")
    if not image_ref:
        return nova_error(400, "Missing imageRef attribute")
    if problem := await calls.check_image(image_ref):
        return nova_error(400, problem)
    if problem := await calls.check_networks(body.get("networks"), request[CALLER].project_id):
        return nova_error(400, problem)
    server_id = str(uuid.uuid4())
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    href = f"{cloud.info.base_url}/compute/v2.1/servers/{server_id}"
    links = [{"rel": "self", "href": href}, {"rel": "bookmark", "href": href}]
    ip = f"10.0.0.{len(cloud.servers) % 250 + 3}"
    cloud.servers[server_id] = {
        "id": server_id,
        "name": name,
        "status": "BUILD",
        "tenant_id": request[CALLER].project_id,
        "user_id": request[CALLER].user_id,
        "metadata": body.get("metadata") or {},
        "hostId": uuid.uuid5(uuid.NAMESPACE_URL, cloud.name).hex,
        "image": {"id": image_ref, "links": [{"rel": "bookmark", "href": image_ref}]},
        "created": now,
        "updated": now,
        "addresses": {
            "private": [
                {
                    "version": 4,
                    "addr": ip,
                    "OS-EXT-IPS:type": "fixed",
                    "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01",
                }
            ]
        },
        "accessIPv4": "",
        "accessIPv6": "",
        "links": links,
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-AZ:availability_zone": "nova",
        "config_drive": "",
        "key_name": body.get("key_name"),
        "OS-SRV-USG:launched_at": now,
        "OS-SRV-USG:terminated_at": None,
        "security_groups": [{"name": "default"}],
        "OS-EXT-STS:task_state": None,
        "OS-EXT-STS:vm_state": "building",
        "OS-EXT-STS:power_state": 0,
        "os-extended-volumes:volumes_attached": [],
        "locked": False,
        "description": body.get("description"),
        "tags": [],
        "_created": time.monotonic(),
        "_serial": next(_SERIALS),
        "_flavor_id": row[0],
    }
    created = {
        "id": server_id,
        "links": links,
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": "default"}],
        "adminPass": "testbed-password",
    }
    return versioned(request, json_response({"server": created}, 202, {"Location": href}))


def _own(request: web.Request, server: dict[str, Any]) -> bool:
    """Nova shows a project its own servers; an admin sees all with all_tenants."""
    if server["tenant_id"] == request[CALLER].project_id:
        return True
    return is_admin(request) and request.query.get("all_tenants", "0") not in ("0", "false")


def _find_server(request: web.Request, cloud: CloudState) -> dict[str, Any] | None:
    server = cloud.servers.get(request.match_info["server_id"])
    if server is None:
        return None
    return (
        server if server["tenant_id"] == request[CALLER].project_id or is_admin(request) else None
    )


async def list_servers(request: web.Request, cloud: CloudState) -> web.Response:
    detail = request.path.endswith("/detail")
    name = request.query.get("name")
    servers = [
        s
        for s in cloud.servers.values()
        if (name is None or name in s["name"]) and _own(request, s)
    ]
    # Nova's default order: newest first (created_at desc, then id desc).
    servers.sort(key=lambda s: (s["created"], s["_serial"]), reverse=True)
    paged = _paged(request, cloud, servers, "id")
    if isinstance(paged, web.Response):
        return paged
    page, links = paged
    if detail:
        items = [_server_view(request, cloud, s) for s in page]
    else:
        items = [{"id": s["id"], "name": s["name"], "links": s["links"]} for s in page]
    body: dict[str, Any] = {"servers": items}
    if links:
        body["servers_links"] = links
    return versioned(request, json_response(body))


async def show_server(request: web.Request, cloud: CloudState) -> web.Response:
    server = _find_server(request, cloud)
    if server is None:
        return nova_error(404, f"Instance {request.match_info['server_id']} could not be found.")
    return versioned(request, json_response({"server": _server_view(request, cloud, server)}))


async def delete_server(request: web.Request, cloud: CloudState) -> web.Response:
    server = _find_server(request, cloud)
    if server is None:
        return nova_error(404, f"Instance {request.match_info['server_id']} could not be found.")
    del cloud.servers[server["id"]]
    return web.Response(status=204)


async def empty_collection(request: web.Request, cloud: CloudState) -> web.Response:
    """Sub-resources the CLI may read (os-volume_attachments, os-interface, ...)."""
    key = request.match_info["collection"].removeprefix("os-").replace("-", "_")
    return versioned(request, json_response({key: []}))
