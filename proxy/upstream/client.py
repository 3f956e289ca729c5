"""CloudClient.send: one request to one cloud, and everything that takes.

The circuit breaker, endpoint discovery, the identity strategy's token, the connection
pool with the cloud's TLS, metrics, the 401 retry with a fresh token, and client errors
mapped to the proxy's. Above it, code decides which clouds to ask; below, bytes move.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import aiohttp
from multidict import CIMultiDictProxy

from openstackoid.proxy.circuit import CircuitBreakers
from openstackoid.proxy.errors import (
    CircuitOpen,
    CloudBusy,
    ProxyError,
    RequestBodyIncomplete,
    UpstreamError,
    UpstreamUnavailable,
    map_upstream_errors,
)
from openstackoid.proxy.headers import upstream_request_headers
from openstackoid.proxy.identity import IdentityStrategy
from openstackoid.proxy.metrics import ProxyMetrics
from openstackoid.proxy.routing import upstream_url, within
from openstackoid.proxy.services import IDENTITY
from openstackoid.proxy.upstream.connection import UpstreamResponse
from openstackoid.proxy.upstream.destinations import Destinations
from openstackoid.proxy.upstream.pool import Body, UpstreamPool
from openstackoid.proxy.upstream.slots import SlotTimeout
from openstackoid.registry import Cloud
from openstackoid.registry.discovery import DiscoveryError, EndpointCatalog
from openstackoid.registry.tls import tls_for


class UpstreamRequest(NamedTuple):
    """One request for one cloud: the client's request, aimed."""

    cloud: Cloud
    service_type: str
    issuer: Cloud | None
    """The cloud whose Keystone issued the caller's token."""
    method: str
    path: str
    """The API path under the cloud's service root, encoded."""
    query: str
    headers: CIMultiDictProxy[str]
    """The client's headers: hop-by-hop ones are dropped and the token swapped on the way."""
    token: str | None
    body: Body
    url: str | None = None
    """A link of the cloud's own (its next page) to follow instead of path and query."""
    expect_continue: bool = False
    """Send a streamed body only once the cloud said 100 Continue (or was silent for
    EXPECT_CONTINUE_WAIT): a final answer first leaves the body unread, for another cloud."""
    client: str = ""
    """The client's address, for X-Forwarded-For and Forwarded."""


EXPECT_CONTINUE_WAIT = 1.0
"""Seconds a streamed body waits for 100 Continue before it goes anyway (RFC 9110 lets a
client proceed: a cloud may not support Expect)."""


Send = Callable[[UpstreamRequest], Awaitable[UpstreamResponse]]
"""What the plan executor needs of the world: a request in, a cloud's answer out."""


class CloudClient:
    def __init__(
        self,
        pool: UpstreamPool,
        strategy: IdentityStrategy,
        breakers: CircuitBreakers,
        metrics: ProxyMetrics,
        catalog: EndpointCatalog,
        session: aiohttp.ClientSession,
        destinations: Destinations | None = None,
        hop: str = "",
    ) -> None:
        self.session = session  # endpoint discovery
        self.destinations = destinations or Destinations()
        self.hop = hop
        """This proxy's id in the hop header it adds: a request back here is a loop."""
        self.pool = pool
        self.strategy = strategy
        self.breakers = breakers
        self.metrics = metrics
        self.catalog = catalog

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """The cloud's answer, its body still to read: release it (or `async with`).
        Raises ProxyError; retries once with a fresh token on a 401 to a swapped token."""
        cloud = request.cloud
        service_type = request.service_type
        if not self.breakers.allow(cloud.name):
            raise CircuitOpen(f"cloud {cloud.name!r} is failing; its circuit is open")
        discovered = not cloud.endpoints and service_type != IDENTITY
        if discovered:
            cloud = await self._with_endpoints(cloud)
        root = upstream_url(cloud, service_type, "")
        self.destinations.check(request.cloud, root, discovered, service_type)
        url = request.url
        if url is None:
            url = root + request.path
            if request.query:
                url = f"{url}?{request.query}"
        elif not within(cloud, service_type, url):
            # A cloud's `next` link elsewhere: following it would take its token there.
            raise UpstreamUnavailable(f"cloud {cloud.name!r} linked outside its endpoint")
        body = request.body
        streams = body is not None and not isinstance(body, bytes)
        for attempt in (1, 2):
            try:
                token = await self.strategy.token_for(request.issuer, cloud, request.token)
            except UpstreamError as exc:
                if exc.cloud == cloud.name:  # its Keystone would not log the proxy in
                    self.breakers.failure(cloud.name)
                    self.metrics.count_upstream(cloud.name, service_type, None)
                raise
            headers = upstream_request_headers(
                request.headers,
                token,
                keep_length=not isinstance(body, bytes),
                client=request.client,
                hop=self.hop,
            )
            started = time.perf_counter()
            try:
                with map_upstream_errors(cloud.name):
                    response = await self.pool.request(
                        request.method,
                        url,
                        headers,
                        body,
                        tls_for(cloud),
                        EXPECT_CONTINUE_WAIT if request.expect_continue else 0.0,
                        request.token,
                    )
            except SlotTimeout as exc:  # busy, not failing: the circuit stays as it is
                raise CloudBusy(f"cloud {cloud.name!r} is busy: {exc}; try again") from exc
            except RequestBodyIncomplete:
                raise  # the client's doing (gone, or a broken body): no failure of the cloud
            except ProxyError:
                self.breakers.failure(cloud.name)
                self.metrics.count_upstream(cloud.name, service_type, None)
                raise
            self.metrics.observe_upstream(service_type, time.perf_counter() - started)
            self.metrics.count_upstream(cloud.name, service_type, response.status)
            if response.status >= 500:
                self.breakers.failure(cloud.name)
            else:
                self.breakers.success(cloud.name)
            if response.status == 401 and token != request.token and attempt == 1 and not streams:
                response.release()
                self.strategy.forget(cloud)
                continue
            response.root = root
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _with_endpoints(self, cloud: Cloud) -> Cloud:
        """The cloud with the endpoints of its Keystone catalog."""
        try:
            endpoints = await self.catalog.endpoints(self.session, cloud)
        except DiscoveryError as exc:
            raise UpstreamUnavailable(str(exc)) from exc
        return dataclasses.replace(cloud, endpoints=endpoints)
