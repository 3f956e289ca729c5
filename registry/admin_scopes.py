"""Admin API routes for named scopes (mounted beside /clouds, same X-Admin-Token):

    GET    /scopes              every named scope
    GET    /scopes/{name}
    PUT    /scopes/{name}       {"scope": "keystone: cloud-1; glance: cloud-2", "description": ""}
    DELETE /scopes/{name}
Written in the store first, then in this proxy's memory (as clouds are): while the store
does not answer, writes are 503 and nothing changes anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from openstackoid.registry.admin_api import REGISTRY, _error
from openstackoid.registry.named_scope_store import NamedScopeStore
from openstackoid.registry.named_scopes import (
    InvalidNamedScopeError,
    NamedScopes,
    UnknownNamedScopeError,
    named_scope_from_dict,
)


@dataclass(frozen=True)
class ScopesAdmin:
    scopes: NamedScopes
    store: NamedScopeStore


SCOPES_ADMIN = web.AppKey("scopes_admin", ScopesAdmin)


async def list_scopes(request: web.Request) -> web.Response:
    scopes = request.app[SCOPES_ADMIN].scopes
    return web.json_response({"scopes": [s.to_dict() for s in scopes]})


async def show_scope(request: web.Request) -> web.Response:
    try:
        found = request.app[SCOPES_ADMIN].scopes.get(request.match_info["name"])
    except UnknownNamedScopeError as exc:
        return _error(404, str(exc))
    return web.json_response({"scope": found.to_dict()})


async def put_scope(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    admin = request.app[SCOPES_ADMIN]
    try:
        data = await request.json()
    except ValueError:
        return _error(400, "The body must be a JSON object.")
    if not isinstance(data, dict):
        return _error(400, "The body must be a JSON object.")
    try:
        named = named_scope_from_dict({**data, "name": name})
    except InvalidNamedScopeError as exc:
        return _error(400, str(exc))
    if name in request.app[REGISTRY]:
        # `/scope/cloud-1/` already means {*: cloud-1}: a second meaning would misroute.
        return _error(400, f"{name!r} is a cloud's name; a named scope needs a name of its own")
    created = name not in admin.scopes
    if created and len(admin.scopes) >= admin.scopes.limit:
        return _error(400, f"{admin.scopes.limit} named scopes are registered already")
    await admin.store.upsert_scope(named)
    admin.scopes.upsert(named)
    return web.json_response({"scope": named.to_dict()}, status=201 if created else 200)


async def delete_scope(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    admin = request.app[SCOPES_ADMIN]
    try:
        admin.scopes.get(name)
    except UnknownNamedScopeError as exc:
        return _error(404, str(exc))
    await admin.store.delete_scope(name)
    admin.scopes.remove(name)
    return web.Response(status=204)


def mount_scopes(admin_app: web.Application, admin: ScopesAdmin) -> None:
    admin_app[SCOPES_ADMIN] = admin
    admin_app.router.add_get("/scopes", list_scopes)
    admin_app.router.add_get("/scopes/{name}", show_scope)
    admin_app.router.add_put("/scopes/{name}", put_scope)
    admin_app.router.add_delete("/scopes/{name}", delete_scope)
