"""Pure routing: (request head, scope, registry) -> RouteDecision. No IO here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, assert_never

from openstackoid.proxy.errors import (
    BadRequest,
    CloudUnknown,
    FanOutTooWide,
    FanOutWriteRejected,
    ScopeMissing,
)
from openstackoid.proxy.service_root import service_root
from openstackoid.proxy.services import IDENTITY
from openstackoid.registry import Cloud, Registry, UnknownCloudError
from openstackoid.scope_dsl import (
    AllOf,
    AnyOf,
    CloudExpr,
    CloudGlob,
    CloudRef,
    GroupSelector,
    LabelSelector,
    Scope,
)

MAX_FANOUT = 1024
"""Distinct clouds one request may address: sized for a federation of 1,000 clouds."""
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FANOUT_WRITES: frozenset[tuple[str, str]] = frozenset()
"""(method, service type) pairs allowed to fan out. None yet: a write to many clouds needs
per-operation merge semantics that no operation has been given."""


@dataclass(frozen=True, slots=True)
class CloudNode:
    cloud: Cloud


@dataclass(frozen=True, slots=True)
class AllNode:
    """Every child answers; results are merged."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class AnyNode:
    """Children are tried in order until one answers."""

    children: tuple[Node, ...]


Node = CloudNode | AllNode | AnyNode


@dataclass(frozen=True)
class RouteDecision:
    """Which clouds serve a service for a scope; the same for every path under it, so a
    planner hands out one instance per (scope, service, method)."""

    service_type: str
    node: Node
    issuer: Cloud | None
    """The cloud whose Keystone issued (or will issue) the caller's token."""

    @property
    def single(self) -> Cloud | None:
        return self.node.cloud if isinstance(self.node, CloudNode) else None


def resolve(expr: CloudExpr, registry: Registry) -> Node:
    """A scope expression as a tree of registered clouds; selectors become fan-outs. A cloud
    is asked once per request whatever the scope: `*&*&...` made thousands of calls."""
    return _distinct(_resolve(expr, registry), set())


def _resolve(expr: CloudExpr, registry: Registry) -> Node:
    match expr:
        case CloudRef(name=name):
            try:
                return CloudNode(registry.get(name))
            except UnknownCloudError as exc:
                raise CloudUnknown(str(exc)) from exc
        case CloudGlob() | LabelSelector() | GroupSelector():
            clouds = registry.select(expr)
            if not clouds:
                raise BadRequest(f"selector {expr} matches no registered cloud")
            if len(clouds) == 1:
                return CloudNode(clouds[0])
            return AllNode(tuple(CloudNode(c) for c in clouds))
        case AllOf(operands=operands):
            return AllNode(tuple(_resolve(op, registry) for op in operands))
        case AnyOf(operands=operands):
            return AnyNode(tuple(_resolve(op, registry) for op in operands))
        case _:
            assert_never(expr)


def _distinct(node: Node, seen: set[str]) -> Node:
    """The tree with each cloud once under an `&` (nested `&`s spliced in: the first place
    it appears) and once in each `|` (a failover tries a cloud once)."""
    match node:
        case CloudNode():
            return node
        case AllNode(children=children):
            kept: list[Node] = []
            _splice(children, seen, kept)
            return kept[0] if len(kept) == 1 else AllNode(tuple(kept))
        case AnyNode(children=children):
            members: list[Node] = []
            names: set[str] = set()
            for child in children:
                if isinstance(child, CloudNode):
                    if child.cloud.name in names:
                        continue
                    names.add(child.cloud.name)
                members.append(_distinct(child, set(seen)))
            return members[0] if len(members) == 1 else AnyNode(tuple(members))
        case _:
            assert_never(node)


def _splice(children: tuple[Node, ...], seen: set[str], kept: list[Node]) -> None:
    for child in children:
        if isinstance(child, AllNode):
            _splice(child.children, seen, kept)
        elif isinstance(child, AnyNode):
            group = _distinct(child, seen)
            if not _clouds_of(group) <= seen:  # else each member is asked already
                kept.append(group)
        elif child.cloud.name not in seen:
            seen.add(child.cloud.name)
            kept.append(child)


def _clouds_of(node: Node) -> set[str]:
    match node:
        case CloudNode(cloud=cloud):
            return {cloud.name}
        case AllNode(children=children) | AnyNode(children=children):
            return set().union(*(_clouds_of(child) for child in children))
        case _:
            assert_never(node)


def width(node: Node) -> int:
    """Clouds a plan may call: the sum over its tree (a failover may try each member)."""
    match node:
        case CloudNode():
            return 1
        case AllNode(children=children) | AnyNode(children=children):
            return sum(width(child) for child in children)
        case _:
            assert_never(node)


def describe(node: Node) -> Any:
    """A JSON view of a plan: a cloud name, {"every": [...]} or {"first_of": [...]}."""
    match node:
        case CloudNode(cloud=cloud):
            return cloud.name
        case AllNode(children=children):
            return {"every": [describe(c) for c in children]}
        case AnyNode(children=children):
            return {"first_of": [describe(c) for c in children]}
        case _:
            assert_never(node)


def fans_out(node: Node) -> bool:
    match node:
        case CloudNode():
            return False
        case AllNode():
            return True
        case AnyNode(children=children):
            return any(fans_out(child) for child in children)
        case _:
            assert_never(node)


def expr_for(service_type: str, scope: Scope, default: Scope | None) -> CloudExpr | None:
    """The request scope's entry (or its `*`), else its identity cloud, else the proxy's
    default scope for the service."""
    expr = scope.expr_for(service_type) or scope.expr_for(IDENTITY)
    if expr is None and default is not None:
        expr = default.expr_for(service_type) or default.expr_for(IDENTITY)
    return expr


def _issuer(scope: Scope, registry: Registry, default: Scope | None) -> Cloud | None:
    expr = expr_for(IDENTITY, scope, default)
    if expr is None:
        return None
    node = resolve(expr, registry)
    # Failover between Keystones makes sense; fanning a login out does not.
    while isinstance(node, AnyNode):
        node = node.children[0]
    if not isinstance(node, CloudNode):
        raise BadRequest(f"the identity service must be one cloud, not {expr}")
    return node.cloud


# A `.` or `..` path segment, plain or percent-encoded (once or twice).
_DOT_SEGMENT = re.compile(r"(?:^|/)(?:\.|%2e|%252e){1,2}(?:/|$)", re.IGNORECASE)


def check_path(path: str) -> None:
    """A cloud that normalises paths would serve /image/../identity/... from another of its
    services, with the token the proxy obtained for this one."""
    # The substring tests spare nearly every path the regex: a dot segment needs one of them.
    suspect = "/." in path or "%" in path or path.startswith(".")
    if suspect and _DOT_SEGMENT.search(path):
        raise BadRequest(f"path {path[:200]!r} has a '.' or '..' segment")


def route(
    method: str,
    service_type: str,
    path: str,
    scope: Scope | None,
    registry: Registry,
    default: Scope | None = None,
    max_fanout: int = MAX_FANOUT,
) -> RouteDecision:
    """Which cloud(s) serve this request. Unlisted services follow `*`, then the identity
    cloud, then the proxy's default scope. Refuses plans wider than `max_fanout` clouds."""
    check_path(path)
    scope = scope or default
    if scope is None:
        raise ScopeMissing(
            "No scope: send an X-Scope header such as {keystone: cloud-1; glance: cloud-2}"
        )
    expr = expr_for(service_type, scope, default)
    if expr is None:
        raise ScopeMissing(f"the scope {scope} names no cloud for service {service_type!r}")
    node = resolve(expr, registry)
    clouds = width(node)
    if clouds > max_fanout:
        raise FanOutTooWide(
            f"the scope's {service_type} entry ({_short(expr)}) addresses {clouds} clouds, "
            f"more than this proxy's max_fanout of {max_fanout}: narrow it"
        )
    if method not in READ_METHODS and fans_out(node):
        if (method, service_type) not in FANOUT_WRITES:
            raise FanOutWriteRejected(
                f"{method} to several clouds ({expr}) is not supported: name one cloud, "
                "or use '|' for failover"
            )
    return RouteDecision(service_type, node, _issuer(scope, registry, default))


def _short(expr: CloudExpr) -> str:
    text = str(expr)
    return text if len(text) <= 200 else text[:200] + "..."


MAX_PLAN_CLOUDS = 262_144
"""Cloud nodes all kept plans may hold together (~100 bytes each): 16,384 plans of
`cloud-*` over 1,000 clouds were ~1 GB; now ~260 such plans at most, or 16,384 usual ones."""


class RoutePlanner:
    """route() with each plan kept per (scope text, service, method) until the registry
    changes: most requests repeat a scope, and resolving it costs more than a dict hit.
    Kept plans are bounded in count and in the clouds they name together."""

    def __init__(
        self,
        registry: Registry,
        default: Scope | None,
        max_plans: int = 16384,
        max_fanout: int = MAX_FANOUT,
        max_plan_clouds: int = MAX_PLAN_CLOUDS,
    ) -> None:
        self.registry = registry
        self.default = default
        self.max_plans = max_plans
        self.max_fanout = max_fanout
        self.max_plan_clouds = max_plan_clouds
        self._plans: dict[tuple[str | None, str, str], RouteDecision] = {}
        self._clouds = 0
        self._version = registry.version

    def decide(
        self, method: str, service_type: str, path: str, scope: Scope | None, scope_text: str | None
    ) -> RouteDecision:
        if self._version != self.registry.version:
            self._forget()
            self._version = self.registry.version
        key = (scope_text, service_type, method)
        decision = self._plans.get(key)
        if decision is None:  # route() checks the path
            decision = route(
                method, service_type, path, scope, self.registry, self.default, self.max_fanout
            )
            clouds = width(decision.node)
            full = self._clouds + clouds > self.max_plan_clouds
            if full or len(self._plans) >= self.max_plans:
                self._forget()  # a burst of distinct scopes: start over, stay bounded
            self._plans[key] = decision
            self._clouds += clouds
            return decision
        check_path(path)
        return decision

    def _forget(self) -> None:
        self._plans.clear()
        self._clouds = 0


def upstream_url(cloud: Cloud, service_type: str, path: str) -> str:
    """The cloud's URL for an API path of a service."""
    endpoint = cloud.endpoints.get(service_type)
    if endpoint is None:
        if service_type != IDENTITY:
            raise BadRequest(f"cloud {cloud.name!r} has no {service_type!r} endpoint")
        endpoint = cloud.auth_url
    return service_root(endpoint) + path


def within(cloud: Cloud, service_type: str, url: str) -> bool:
    """Whether a URL (a cloud's own `next` link) stays under the cloud's endpoint for the
    service: no other host, no other service of the cloud."""
    root = upstream_url(cloud, service_type, "")
    rest = url[len(root) :]
    if not url.startswith(root) or rest[:1] not in ("", "/", "?"):
        return False
    return not _DOT_SEGMENT.search(rest.partition("?")[0])
