"""Admin REST API for identity mapping rules and target credentials (beside /clouds).

    GET    /mapping-rules                    in the order they are tried
    GET    /mapping-rules/{name}
    PUT    /mapping-rules/{name}             JSON rule (rules-schema.json), upsert
    DELETE /mapping-rules/{name}
    POST   /mapping-rules/decide             {"caller": {...}, "target": "cloud-3"}: a dry run
    GET    /target-credentials               secrets never returned
    GET    /target-credentials/{cloud}/{name}
    PUT    /target-credentials/{cloud}/{name}
    DELETE /target-credentials/{cloud}/{name}
The admin app's X-Admin-Token middleware guards every route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from openstackoid.openstack_errors import openstack_error
from openstackoid.registry.caller import CallerIdentity
from openstackoid.registry.errors import InvalidRuleError, UnknownCloudError
from openstackoid.registry.index import Registry
from openstackoid.registry.mapping import Denial, RuleBook
from openstackoid.registry.rule_store import RuleStore
from openstackoid.registry.rules import credential_from_data, is_operator_account, rule_from_data


@dataclass(frozen=True)
class RulesAdmin:
    """What the routes act on: the book in force and the store that persists it."""

    book: RuleBook
    store: RuleStore
    registry: Registry


RULES = web.AppKey("rules_admin", RulesAdmin)


def _error(status: int, message: str) -> web.Response:
    return openstack_error(status, None, message)


async def _body(request: web.Request, **defaults: str) -> Any:
    try:
        data = await request.json()
    except ValueError:
        raise InvalidRuleError("the body must be a JSON object") from None
    if isinstance(data, dict):
        for key, value in defaults.items():
            data.setdefault(key, value)
    return data


async def list_rules(request: web.Request) -> web.Response:
    rules = request.app[RULES].book.rules()
    return web.json_response({"mapping_rules": [r.to_data() for r in rules]})


async def show_rule(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    rule = request.app[RULES].book.rule(name)
    if rule is None:
        return _error(404, f"no mapping rule {name!r}")
    return web.json_response({"mapping_rule": rule.to_data()})


async def put_rule(request: web.Request) -> web.Response:
    admin = request.app[RULES]
    name = request.match_info["name"]
    try:
        rule = rule_from_data(await _body(request, name=name), "body")
    except InvalidRuleError as exc:
        return _error(400, str(exc))
    if rule.name != name:
        return _error(400, f"the body names rule {rule.name!r}, the URL {name!r}")
    created = admin.book.rule(name) is None
    await admin.store.upsert_rule(rule)
    admin.book.upsert_rule(rule)
    return web.json_response({"mapping_rule": rule.to_data()}, status=201 if created else 200)


async def delete_rule(request: web.Request) -> web.Response:
    admin = request.app[RULES]
    name = request.match_info["name"]
    if admin.book.rule(name) is None:
        return _error(404, f"no mapping rule {name!r}")
    await admin.store.delete_rule(name)
    admin.book.remove_rule(name)
    return web.Response(status=204)


def _caller(data: Any) -> CallerIdentity:
    if not isinstance(data, dict) or not isinstance(data.get("caller"), dict):
        raise InvalidRuleError(
            'body: give {"caller": {"issuer": ..., "user_id": ...}, "target": ...}'
        )
    caller = dict(data["caller"])
    try:
        caller["roles"] = frozenset(caller.get("roles", ()))
        if "groups" in caller:  # absent: unknown, as for a token that names none
            caller["groups"] = frozenset(caller["groups"])
        return CallerIdentity(**caller)
    except TypeError as exc:
        raise InvalidRuleError(f"body/caller: {exc}") from None


async def try_decide(request: web.Request) -> web.Response:
    """What the proxy would decide for this caller at this target (keystone-manage
    mapping_engine's counterpart): lets an operator test rules before traffic does."""
    admin = request.app[RULES]
    try:
        data = await _body(request)
        caller = _caller(data)
        issuer = admin.registry.get(caller.issuer)
        target = admin.registry.get(str(data.get("target")))
    except InvalidRuleError as exc:
        return _error(400, str(exc))
    except UnknownCloudError as exc:
        return _error(404, str(exc))
    decision = admin.book.decide(caller, issuer, target, admin.registry.version)
    if isinstance(decision, Denial):
        body: dict[str, Any] = {
            "allowed": False,
            "rule": decision.rule,
            "message": decision.message,
        }
    else:
        body = {"allowed": True, "rule": decision.rule, "identity": decision.identity}
    return web.json_response(body)


async def list_credentials(request: web.Request) -> web.Response:
    credentials = request.app[RULES].book.credentials()
    return web.json_response({"target_credentials": [c.to_data() for c in credentials]})


async def show_credential(request: web.Request) -> web.Response:
    cloud, name = request.match_info["cloud"], request.match_info["name"]
    credential = request.app[RULES].book.credential(cloud, name)
    if credential is None:
        return _error(404, f"no target credential {name!r} at cloud {cloud!r}")
    return web.json_response({"target_credential": credential.to_data()})


async def put_credential(request: web.Request) -> web.Response:
    admin = request.app[RULES]
    cloud, name = request.match_info["cloud"], request.match_info["name"]
    try:
        credential = credential_from_data(await _body(request, cloud=cloud, name=name), "body")
        target = admin.registry.get(cloud)
    except InvalidRuleError as exc:
        return _error(400, str(exc))
    except UnknownCloudError as exc:
        return _error(404, str(exc))
    if credential.key != (cloud, name):
        return _error(
            400, f"the body names {credential.name!r} at {credential.cloud!r}, not the URL's"
        )
    if is_operator_account(credential, target):
        return _error(
            400,
            f"target credential {name!r} is the account cloud {cloud!r} is registered with "
            "(the proxy's own): register a least-privileged application credential instead",
        )
    created = admin.book.credential(cloud, name) is None
    await admin.store.upsert_credential(credential)
    admin.book.upsert_credential(credential)
    status = 201 if created else 200
    return web.json_response({"target_credential": credential.to_data()}, status=status)


async def delete_credential(request: web.Request) -> web.Response:
    admin = request.app[RULES]
    cloud, name = request.match_info["cloud"], request.match_info["name"]
    if admin.book.credential(cloud, name) is None:
        return _error(404, f"no target credential {name!r} at cloud {cloud!r}")
    await admin.store.delete_credential(cloud, name)
    admin.book.remove_credential(cloud, name)
    return web.Response(status=204)


def mount_rules(app: web.Application, rules: RulesAdmin) -> None:
    """Add the rule routes to the admin app (its middleware checks the admin token)."""
    app[RULES] = rules
    app.router.add_get("/mapping-rules", list_rules)
    app.router.add_post("/mapping-rules/decide", try_decide)
    app.router.add_get("/mapping-rules/{name}", show_rule)
    app.router.add_put("/mapping-rules/{name}", put_rule)
    app.router.add_delete("/mapping-rules/{name}", delete_rule)
    app.router.add_get("/target-credentials", list_credentials)
    app.router.add_get("/target-credentials/{cloud}/{name}", show_credential)
    app.router.add_put("/target-credentials/{cloud}/{name}", put_credential)
    app.router.add_delete("/target-credentials/{cloud}/{name}", delete_credential)
