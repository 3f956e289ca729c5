"""One aiohttp application serving every simulated cloud; the local port names the cloud."""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from openstackoid.testbed import compute, identity, identity_admin, identity_catalog, image, network
from openstackoid.testbed.directory import DirectoryError
from openstackoid.testbed.model import Caller, CloudState, RecordedRequest
from openstackoid.testbed.nova_calls import NovaCalls
from openstackoid.testbed.policy import CALLER, body_too_large, service_policy
from openstackoid.testbed.responses import json_response, keystone_error, nova_error, send_body
from openstackoid.testbed.service_user import (
    LOCAL_REQUEST_ID,
    ServiceAuthError,
    new_request_id,
    service_call,
)
from openstackoid.testbed.tokens import TokenBook, TokenRecord

CloudHandler = Callable[[web.Request, CloudState], Awaitable[web.StreamResponse]]


@dataclass
class Fleet:
    """What every request handler shares."""

    by_port: dict[int, CloudState] = field(default_factory=dict)
    tokens: TokenBook = field(default_factory=lambda: TokenBook(shared_identity=False))
    data_dir: Path = Path(".")
    image_service_url: str | None = None
    """Where Nova checks images ([glance] endpoint_override); None: each cloud's own Glance."""
    network_service_url: str | None = None
    """Where Nova checks networks ([neutron] endpoint_override); None: each cloud's own."""
    rng: random.Random = field(default_factory=lambda: random.Random(42))
    session: aiohttp.ClientSession | None = None


FLEET = web.AppKey("fleet", Fleet)
CLOUD = web.RequestKey("cloud", CloudState)
UNAUTHENTICATED = keystone_error(401, identity.UNAUTHENTICATED)
_VERSION_DOCUMENTS: dict[str, CloudHandler] = {
    "/identity": identity.versions,
    "/identity/v3": identity.version,
    "/image": image.versions,
    "/compute": compute.versions,
    "/compute/v2.1": compute.version,
    "/network": network.versions,
}
"""Discovery documents, answered with and without a trailing slash, and without a token."""
_PUBLIC_PATHS = frozenset(
    {*_VERSION_DOCUMENTS, *(f"{path}/" for path in _VERSION_DOCUMENTS), "/image/versions"}
)


def _cloud_of(request: web.Request, fleet: Fleet) -> CloudState | None:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return fleet.by_port.get(sockname[1]) if sockname else None


@web.middleware
async def cloud_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    fleet = request.app[FLEET]
    cloud = _cloud_of(request, fleet)
    if cloud is None:
        return keystone_error(404, "No cloud listens on this port.")
    faults = cloud.faults
    if faults.outage:
        # Connections kept alive from before the outage die too, as on a crashed host.
        if request.transport is not None:
            request.transport.abort()
        raise web.HTTPServiceUnavailable()
    tokens = fleet.tokens
    caller = tokens.check(cloud.name, request.headers.get("X-Auth-Token"))
    service_token = request.headers.get("X-Service-Token")
    service_caller = tokens.check(cloud.name, service_token) if service_token else None
    cloud.requests.append(
        RecordedRequest(
            request.method,
            request.path,
            request.query_string,
            _who(caller),
            _who(service_caller),
            request.headers.get("X-Openstack-Request-Id"),
            _header_names(request),
        )
    )
    request[LOCAL_REQUEST_ID] = new_request_id()
    if faults.latency:
        await asyncio.sleep(faults.latency)
    if cloud.gate is not None:
        cloud.held += 1
        try:
            await cloud.gate.wait()
        finally:
            cloud.held -= 1
    if faults.garbage and request.transport is not None:
        request.transport.write(b"\x16\x03\x01 this is not HTTP \xff\xfe\r\n\r\n")
        request.transport.close()
        raise web.HTTPServiceUnavailable()
    if faults.error_rate and fleet.rng.random() < faults.error_rate:
        response: web.StreamResponse = keystone_error(503, f"{cloud.name} is failing (injected).")
    elif request.path in _PUBLIC_PATHS or _is_token_request(request):
        request[CLOUD] = cloud
        response = await handler(request)
    elif caller is None or (service_token and service_caller is None):
        # keystonemiddleware: a missing or invalid user token, or an invalid service token.
        response = keystone_error(401, identity.UNAUTHENTICATED)
    elif refusal := service_policy(request, caller):
        response = refusal
    elif too_large := body_too_large(request):
        response = too_large
    else:
        request[CLOUD] = cloud
        request[CALLER] = caller
        response = await handler(request)
    response.headers.setdefault("x-openstack-request-id", request[LOCAL_REQUEST_ID])
    if isinstance(response, web.Response) and not response.prepared:
        return await send_body(request, response, faults)
    return response


_HEADER_SETS: dict[frozenset[str], frozenset[str]] = {}
"""Distinct header-name sets seen (bounded): thousands of recorded requests share a few."""


def _header_names(request: web.Request) -> frozenset[str]:
    names = frozenset(sys.intern(name.lower()) for name in request.headers)
    if len(_HEADER_SETS) < 4096:
        return _HEADER_SETS.setdefault(names, names)
    return _HEADER_SETS.get(names, names)


def _who(record: TokenRecord | None) -> Caller | None:
    return Caller(record.cloud, record.user_name, record.project_name) if record else None


def _is_token_request(request: web.Request) -> bool:
    return request.path == "/identity/v3/auth/tokens" and request.method == "POST"


def _on_cloud(handler: CloudHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def route(request: web.Request) -> web.StreamResponse:
        return await handler(request, request[CLOUD])

    return route


def _with_tokens(
    handler: Callable[[web.Request, CloudState, TokenBook], Awaitable[web.Response]],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def route(request: web.Request) -> web.StreamResponse:
        return await handler(request, request[CLOUD], request.app[FLEET].tokens)

    return route


def _keystone(
    handler: identity_admin.Handler,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def route(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(
                request, request[CLOUD], request[CALLER], request.app[FLEET].tokens
            )
        except DirectoryError as exc:
            return keystone_error(exc.status, exc.message)

    return route


async def _upload(request: web.Request, cloud: CloudState) -> web.Response:
    return await image.upload(request, cloud, request.app[FLEET].data_dir)


async def _create_server(request: web.Request, cloud: CloudState) -> web.Response:
    fleet = request.app[FLEET]
    assert fleet.session is not None
    try:
        call = await service_call(request, fleet.session, cloud)
    except (ServiceAuthError, aiohttp.ClientError) as exc:
        return nova_error(500, f"Unexpected API Error: {exc}")
    calls = NovaCalls(
        fleet.session,
        fleet.image_service_url or f"{cloud.info.base_url}/image",
        fleet.network_service_url or f"{cloud.info.base_url}/network",
        call,
    )
    return await compute.create_server(request, cloud, calls)


async def _schema(request: web.Request, cloud: CloudState) -> web.Response:
    return json_response({"name": request.match_info["name"], "properties": {}, "links": []})


_SERVICE_ROUTES: list[tuple[str, str, CloudHandler]] = [
    ("GET", "/image/versions", image.versions),
    ("GET", "/image/v2/images", image.list_images),
    ("POST", "/image/v2/images", image.create_image),
    ("GET", "/image/v2/images/{image_id}", image.show_image),
    ("DELETE", "/image/v2/images/{image_id}", image.delete_image),
    ("PATCH", "/image/v2/images/{image_id}", image.update_image),
    ("PUT", "/image/v2/images/{image_id}/file", _upload),
    ("GET", "/image/v2/images/{image_id}/file", image.download),
    ("GET", "/image/v2/info/{kind}", image.info),
    ("GET", "/image/v2/schemas/{name:.+}", _schema),
    ("GET", "/compute/v2.1/flavors", compute.flavors),
    ("GET", "/compute/v2.1/flavors/detail", compute.flavors),
    ("GET", "/compute/v2.1/flavors/{flavor_id}", compute.show_flavor),
    ("GET", "/compute/v2.1/flavors/{flavor_id}/os-extra_specs", compute.flavor_extra_specs),
    ("GET", "/compute/v2.1/servers", compute.list_servers),
    ("GET", "/compute/v2.1/servers/detail", compute.list_servers),
    ("POST", "/compute/v2.1/servers", _create_server),
    ("GET", "/compute/v2.1/servers/{server_id}", compute.show_server),
    ("DELETE", "/compute/v2.1/servers/{server_id}", compute.delete_server),
    ("GET", "/compute/v2.1/servers/{server_id}/{collection}", compute.empty_collection),
    ("GET", "/network/v2.0/networks", network.list_networks),
    ("POST", "/network/v2.0/networks", network.create_network),
    ("GET", "/network/v2.0/networks/{network_id}", network.show_network),
    ("GET", "/network/v2.0/{collection}", network.empty_collection),
]
"""Glance's, Nova's and Neutron's routes (a GET route answers HEAD too, as aiohttp's add_get)."""


def make_app(fleet: Fleet) -> web.Application:
    app = web.Application(middlewares=[cloud_middleware], client_max_size=1024**4)
    app[FLEET] = fleet
    routes = [
        *(
            web.get(path, _on_cloud(handler))
            for document, handler in _VERSION_DOCUMENTS.items()
            for path in (document, f"{document}/")
        ),
        web.post("/identity/v3/auth/tokens", _with_tokens(identity.issue_token)),
        web.get(
            "/identity/v3/auth/tokens", _with_tokens(identity.validate_token), allow_head=False
        ),
        web.head("/identity/v3/auth/tokens", _with_tokens(identity.validate_token)),
        web.delete("/identity/v3/auth/tokens", _with_tokens(identity.validate_token)),
        *(
            web.route(method, f"/identity/v3{path}", _keystone(handler))
            for method, path, handler in identity_admin.ROUTES + identity_catalog.ROUTES
        ),
        *(web.route(method, path, _on_cloud(handler)) for method, path, handler in _SERVICE_ROUTES),
    ]
    app.add_routes(routes)
    return app
