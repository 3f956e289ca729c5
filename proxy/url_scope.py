"""The scope in the endpoint URL: `http://PROXY/scope/<scope>/<service_type>/<api path>`.

A client with no openstackoid code (plain openstacksdk, gophercloud, curl, Ansible) sets its
auth_url to `http://PROXY/scope/fed-c2/identity/v3`; every URL the proxy hands back through
that prefix (catalog, version documents, links, `next`, Location) keeps it, so all its later
calls carry the scope too. `<scope>` is a named scope of the registry (`fed-c2`), a cloud
(`cloud-1` = `{*: cloud-1}`) or an inline scope (`keystone:cloud-1;glance:cloud-2`,
scope_dsl.to_url_segment). A bare name that is both a named scope and a cloud is refused:
either meaning could be the wrong one.

Everything is read from the raw path (percent-encoding kept): aiohttp's decoded path would
turn a `%2F` inside the segment into a separator.
"""

from __future__ import annotations

import difflib
import functools
import string
from dataclasses import dataclass
from urllib.parse import unquote

from openstackoid.proxy.errors import NotFound, ScopeInvalid
from openstackoid.registry import Registry
from openstackoid.registry.named_scopes import NAME, NamedScopes
from openstackoid.scope_dsl import (
    MAX_SCOPE_LENGTH,
    Scope,
    ScopeSyntaxError,
    parse_url_segment,
    to_url_segment,
)

PREFIX = "/scope/"
_PCHAR = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@%")
"""RFC 3986 path-segment characters: a segment made of them alone is handed back as the
client wrote it (safe inside JSON strings and headers); any other is re-encoded."""
MAX_SEGMENT = 3 * MAX_SCOPE_LENGTH
"""Every character of the longest scope percent-encoded."""


@dataclass(frozen=True, slots=True)
class ScopedPath:
    """A request path under /scope/, split: all parts raw."""

    segment: str
    service_type: str
    api_path: str
    """What follows `/<service_type>` (as sent), like the unscoped handler's API path."""


@dataclass(frozen=True, slots=True)
class UrlScope:
    scope: Scope
    text: str
    """The scope's canonical text: what is remembered for the token."""
    prefix: str
    """`/scope/<segment>`: put before every URL handed back, so later calls keep it."""
    name: str | None = None
    """The named scope's name, if the URL named one."""


def split_scoped_path(raw_path: str) -> ScopedPath:
    """`/scope/<segment>/<service_type>[/<api path>]` (query excluded) split, raw."""
    segment, slash, rest = raw_path[len(PREFIX) :].partition("/")
    raw_service = rest.partition("/")[0]
    service_type = unquote(raw_service)
    if not segment or not slash or not service_type:
        raise NotFound(
            f"openstackoid serves {raw_path[:200]!r} at /scope/<scope>/<service_type>/..., "
            "e.g. /scope/keystone:cloud-1;glance:cloud-2/identity/v3"
        )
    return ScopedPath(segment, service_type, rest[len(raw_service) :])


@functools.lru_cache(maxsize=4096)
def _inline(segment: str) -> UrlScope:
    try:
        scope = parse_url_segment(segment)
    except ScopeSyntaxError as exc:
        raise ScopeInvalid(f"the scope in the URL does not parse: {exc}") from exc
    kept = segment if _PCHAR.issuperset(segment) else to_url_segment(scope)
    return UrlScope(scope, str(scope), PREFIX + kept)


class UrlScopes:
    """Resolves URL segments against the registry's clouds and named scopes."""

    def __init__(self, registry: Registry, named: NamedScopes) -> None:
        self.registry = registry
        self.named = named

    def resolve(self, segment: str) -> UrlScope:
        """The scope a segment stands for; ScopeInvalid (400) says why there is none."""
        if len(segment) > MAX_SEGMENT:
            raise ScopeInvalid(f"the scope in the URL exceeds {MAX_SEGMENT} characters")
        if NAME.match(segment):
            return self._by_name(segment)
        return _inline(segment)

    def _by_name(self, name: str) -> UrlScope:
        named = self.named.find(name)
        is_cloud = name in self.registry
        if named is not None and is_cloud:
            raise ScopeInvalid(
                f"{name!r} in the URL is both a named scope and a cloud; write "
                f"'*:{name}' for the cloud, or ask the operator to rename the scope"
            )
        if named is not None:
            return UrlScope(named.scope, named.text, PREFIX + name, name)
        if is_cloud:
            return _inline(name)
        close = difflib.get_close_matches(name, [s.name for s in self.named], n=3, cutoff=0.75)
        close += self.registry.suggest(name)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ScopeInvalid(f"{name!r} in the URL is neither a named scope nor a cloud.{hint}")
