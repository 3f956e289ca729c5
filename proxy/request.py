"""What the handler learned from a client's request, built once and never changed.

Nothing below the handler sees aiohttp's web.Request: the plan executor and the cloud
client take this value, so they can be driven without a server.
"""

from __future__ import annotations

import functools
from typing import NamedTuple
from urllib.parse import parse_qsl

from multidict import CIMultiDictProxy, MultiDict, MultiDictProxy

from openstackoid.proxy.routing import RouteDecision
from openstackoid.proxy.services import SERVICES, Service
from openstackoid.proxy.upstream.client import UpstreamRequest
from openstackoid.proxy.upstream.pool import Body
from openstackoid.registry import Cloud
from openstackoid.scope_dsl import Scope


@functools.lru_cache(maxsize=4096)
def parse_query(query: str) -> MultiDictProxy[str]:
    """Every parameter of a query string, repeated keys included (`?status=A&status=B`)."""
    return MultiDictProxy(MultiDict(parse_qsl(query, keep_blank_values=True)))


class ProxyRequest(NamedTuple):
    """A NamedTuple, not a frozen dataclass: it is built on every request, and a frozen
    dataclass's __init__ costs several times a tuple's (the handler builds it with _make,
    cheaper still than the keyword-binding __new__)."""

    method: str
    path: str
    """The API path after the proxy's `/<service_type>` prefix, encoded, query excluded."""
    query: str
    """The query string as the client encoded it: a decoded one could break the request line."""
    headers: CIMultiDictProxy[str]
    decision: RouteDecision
    scope: Scope | None
    scope_text: str | None
    token: str | None
    public_url: str
    body: Body
    """The request body: held bytes (replayed on failover), a stream (one cloud), or None."""
    client: str = ""
    """The client's address, appended to X-Forwarded-For and Forwarded."""

    @property
    def service_type(self) -> str:
        return self.decision.service_type

    @property
    def service(self) -> Service:
        return SERVICES[self.decision.service_type]

    @property
    def params(self) -> MultiDictProxy[str]:
        """The query parsed, every value of a repeated key kept."""
        return parse_query(self.query)

    @property
    def scoped_types(self) -> frozenset[str]:
        return self.scope.service_types if self.scope else frozenset()

    @property
    def proxy_prefix(self) -> str:
        return f"{self.public_url}/{self.decision.service_type}"

    def to(self, cloud: Cloud, query: str | None = None, url: str | None = None) -> UpstreamRequest:
        """This request aimed at one cloud; `query` replaces the client's (a page's own
        marker), `url` is a link of the cloud's own to follow instead."""
        decision = self.decision
        # _make: the tuple built at once, without __new__'s argument binding (once per
        # request on the hot path).
        return UpstreamRequest._make(
            (
                cloud,
                decision.service_type,
                decision.issuer,
                self.method,
                self.path,
                self.query if query is None else query,
                self.headers,
                self.token,
                self.body,
                url,
                False,  # expect_continue: streamed_failover asks for it
                self.client,
            )
        )
