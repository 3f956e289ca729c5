"""Admin REST API for runtime registry changes (mounted by the proxy at /_openstackoid/admin).

    GET    /clouds[?label=k=v|group=g|glob=p][&limit=N&marker=name]
    GET    /clouds/{name}
    PUT    /clouds/{name}       JSON cloud definition (registry-schema.json), upsert
    DELETE /clouds/{name}
    /mapping-rules, /target-credentials  identity mapping (registry/admin_rules.py)
Every call needs `X-Admin-Token`. Credentials are accepted but never returned.
A write is made in the store first, then in this proxy's memory: while the store does not
answer, writes are refused with 503 and nothing changes anywhere.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from openstackoid.openstack_errors import openstack_error
from openstackoid.registry.admin_rules import RulesAdmin, mount_rules
from openstackoid.registry.errors import InvalidCloudError, StoreUnavailableError, UnknownCloudError
from openstackoid.registry.index import Registry
from openstackoid.registry.model import Cloud
from openstackoid.registry.registry_file import validate_cloud
from openstackoid.registry.store import Store

REGISTRY = web.AppKey("registry", Registry)
STORE = web.AppKey("store", Store)
TOKEN = web.AppKey("admin_token", str)
MAX_LIMIT = 1000


def _error(status: int, message: str) -> web.Response:
    return openstack_error(status, None, message)


def _store_down(exc: StoreUnavailableError) -> web.Response:
    # A write kept in one proxy's memory only would vanish at its restart and never reach
    # the rest of the fleet: refused instead, for the caller to retry.
    response = _error(503, f"{exc}. The change was not made; retry when the store answers.")
    response.headers["Retry-After"] = "5"
    return response


@web.middleware
async def require_admin_token(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    given = request.headers.get("X-Admin-Token", "")
    if not hmac.compare_digest(given.encode(), request.app[TOKEN].encode()):
        return _error(401, "The admin API requires a valid X-Admin-Token header.")
    return await handler(request)


@web.middleware
async def store_down_is_503(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every route that writes (clouds, named scopes, mapping rules): a store that does not
    answer is a 503 and the change is made nowhere, never a 500."""
    try:
        return await handler(request)
    except StoreUnavailableError as exc:
        return _store_down(exc)


def _selection(request: web.Request) -> tuple[Cloud, ...] | list[Cloud]:
    registry = request.app[REGISTRY]
    if label := request.query.get("label"):
        key, _, value = label.partition("=")
        return registry.select_label(key, value)
    if group := request.query.get("group"):
        return registry.select_group(group)
    if glob := request.query.get("glob"):
        return registry.select_glob(glob)
    return list(registry)


async def list_clouds(request: web.Request) -> web.Response:
    try:
        limit = min(int(request.query.get("limit", MAX_LIMIT)), MAX_LIMIT)
    except ValueError:
        return _error(400, "limit must be an integer")
    clouds = list(_selection(request))
    if marker := request.query.get("marker"):
        names = [c.name for c in clouds]
        if marker not in names:
            return _error(400, f"marker {marker!r} is not a cloud of this listing")
        clouds = clouds[names.index(marker) + 1 :]
    page = clouds[:limit]
    body: dict[str, Any] = {"clouds": [c.to_dict() for c in page]}
    if len(clouds) > limit and page:
        body["next"] = f"{request.path}?limit={limit}&marker={page[-1].name}"
    return web.json_response(body)


async def show_cloud(request: web.Request) -> web.Response:
    try:
        cloud = request.app[REGISTRY].get(request.match_info["name"])
    except UnknownCloudError as exc:
        return _error(404, str(exc))
    return web.json_response({"cloud": cloud.to_dict()})


async def put_cloud(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        data = await request.json()
    except ValueError:
        return _error(400, "The body must be a JSON object.")
    if isinstance(data, dict):
        data.setdefault("name", name)
    try:
        cloud = validate_cloud(data)
    except InvalidCloudError as exc:
        return _error(400, str(exc))
    if cloud.name != name:
        return _error(400, f"the body names cloud {cloud.name!r}, the URL {name!r}")
    created = name not in request.app[REGISTRY]
    await request.app[STORE].upsert(cloud)
    request.app[REGISTRY].upsert(cloud)
    return web.json_response({"cloud": cloud.to_dict()}, status=201 if created else 200)


async def delete_cloud(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in request.app[REGISTRY]:
        return _error(404, str(UnknownCloudError(name, request.app[REGISTRY].suggest(name))))
    await request.app[STORE].delete(name)
    # A fleet proxy may already have applied its own NOTIFY while the delete was awaited.
    if name in request.app[REGISTRY]:
        request.app[REGISTRY].remove(name)
    return web.Response(status=204)


def make_admin_app(
    registry: Registry, store: Store, admin_token: str, rules: RulesAdmin | None = None
) -> web.Application:
    if not admin_token:
        raise ValueError("the admin API needs a non-empty admin token")
    app = web.Application(middlewares=[require_admin_token, store_down_is_503])
    app[REGISTRY] = registry
    app[STORE] = store
    app[TOKEN] = admin_token
    app.router.add_get("/clouds", list_clouds)
    app.router.add_get("/clouds/{name}", show_cloud)
    app.router.add_put("/clouds/{name}", put_cloud)
    app.router.add_delete("/clouds/{name}", delete_cloud)
    if rules is not None:
        mount_rules(app, rules)  # /mapping-rules, /target-credentials (registry/admin_rules.py)
    return app
