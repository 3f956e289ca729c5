"""Upstream calls: one cloud streamed, or many clouds buffered for failover and fan-out."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from proxy.circuit import CircuitBreakers
from proxy.config import ProxyConfig
from proxy.errors import (
    CircuitOpen,
    ProxyError,
    RequestBodyIncomplete,
    UpstreamUnavailable,
    map_upstream_errors,
)
from proxy.headers import downstream_response_headers, upstream_request_headers
from proxy.identity import IdentityStrategy, parse_expiry
from proxy.metrics import ProxyMetrics
from proxy.rewrite_catalog import rewrite_catalog
from proxy.rewrite_links import rewrite_body, rewrite_headers
from proxy.routing import IDENTITY, RouteDecision, upstream_url, within
from proxy.scope_memory import SharedScopes
from proxy.service_root import service_root
from proxy.upstream.connection import RequestBodyFailed, UpstreamResponse
from proxy.upstream.pool import Body, UpstreamPool
from registry import Cloud
from registry.discovery import DiscoveryError, EndpointCatalog
from scope_dsl import Scope

log = logging.getLogger("openstackoid.proxy")

TOKEN_PATHS = frozenset({"/v3/auth/tokens", "/v3/auth/catalog"})


@dataclass
class Call:
    """What the handler learned from the request, shared by every upstream call."""

    request: web.Request
    decision: RouteDecision
    path: str
    """The API path after the proxy's `/<service_type>` prefix, encoded, query excluded."""
    query: str
    """The query string as the client encoded it: a decoded one could break the request line."""
    public_url: str
    scope_text: str | None
    scope: Scope | None
    body: bytes | None
    """The buffered request body, or None when it streams (single cloud) or is empty."""

    @property
    def scoped_types(self) -> frozenset[str]:
        return self.scope.service_types if self.scope else frozenset()

    @property
    def user_token(self) -> str | None:
        return self.request.headers.get("X-Auth-Token")

    @property
    def proxy_prefix(self) -> str:
        return f"{self.public_url}/{self.decision.service_type}"


@dataclass(frozen=True)
class Buffered:
    """A whole upstream answer, for merging and failover."""

    cloud: str
    status: int
    headers: CIMultiDict[str]
    body: bytes


class Forwarder:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        pool: UpstreamPool,
        config: ProxyConfig,
        strategy: IdentityStrategy,
        breakers: CircuitBreakers,
        metrics: ProxyMetrics,
        memory: SharedScopes,
    ) -> None:
        self.session = session  # discovery and token calls
        self.pool = pool  # the hot path: every call to a cloud's API
        self.config = config
        self.strategy = strategy
        self.breakers = breakers
        self.metrics = metrics
        self.memory = memory
        self.catalog = EndpointCatalog()

    async def with_endpoints(self, cloud: Cloud, service_type: str) -> Cloud:
        """The cloud with its endpoints: declared, or discovered from its catalog. Identity
        needs none: the auth_url is its endpoint."""
        if cloud.endpoints or service_type == IDENTITY:
            return cloud
        try:
            endpoints = await self.catalog.endpoints(self.session, cloud)
        except DiscoveryError as exc:
            raise UpstreamUnavailable(str(exc)) from exc
        return dataclasses.replace(cloud, endpoints=endpoints)

    async def _open(
        self, call: Call, cloud: Cloud, data: Body, url: str | None = None
    ) -> UpstreamResponse:
        """Send the request to one cloud; retries once with a fresh token on a 401."""
        decision = call.decision
        if not self.breakers.allow(cloud.name):
            raise CircuitOpen(f"cloud {cloud.name!r} is failing; its circuit is open")
        if url is None:
            url = upstream_url(cloud, decision.service_type, call.path)
            if call.query:
                url = f"{url}?{call.query}"
        elif not within(cloud, decision.service_type, url):
            # A cloud's `next` link elsewhere: following it would take its token there.
            raise UpstreamUnavailable(f"cloud {cloud.name!r} linked outside its endpoint")
        for attempt in (1, 2):
            token = await self.strategy.token_for(
                self.session, decision.issuer, cloud, call.user_token
            )
            headers = upstream_request_headers(
                call.request.headers, token, keep_length=call.body is None
            )
            started = time.perf_counter()
            try:
                with map_upstream_errors(cloud.name):
                    response = await self.pool.request(
                        call.request.method, url, headers, data, tls_for(cloud)
                    )
            except RequestBodyFailed as exc:
                # The client's doing (gone, or a broken body): no failure of the cloud.
                raise RequestBodyIncomplete(f"the request body broke off: {exc}") from exc
            except ProxyError:
                self.breakers.failure(cloud.name)
                self.metrics.count_upstream(cloud.name, decision.service_type, None)
                raise
            self.metrics.observe_upstream(decision.service_type, time.perf_counter() - started)
            self.metrics.count_upstream(cloud.name, decision.service_type, response.status)
            if response.status >= 500:
                self.breakers.failure(cloud.name)
            else:
                self.breakers.success(cloud.name)
            swapped = token != call.user_token
            if response.status == 401 and swapped and attempt == 1 and not _streams(data):
                response.release()
                self.strategy.forget(cloud)
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def stream_one(self, call: Call, cloud: Cloud) -> web.StreamResponse:
        """The hot path: one cloud, bodies streamed both ways unless a rewrite needs them."""
        request = call.request
        # The body as it arrives: 64 KiB pieces (iter_chunked) cost a copy each and a write
        # each, 1.5 s of CPU per GiB uploaded against 0.64.
        data = request.content.iter_any() if request.body_exists else None
        cloud = await self.with_endpoints(cloud, call.decision.service_type)
        response = await self._open(call, cloud, data)
        try:
            headers = downstream_response_headers(response.headers)
            root = service_root(upstream_url(cloud, call.decision.service_type, ""))
            rewrite_headers(headers, root, call.proxy_prefix)
            limit = self.config.max_rewrite_bytes
            first = b""
            if _rewritable(response, limit):
                with map_upstream_errors(cloud.name):
                    body, whole = await response.read_up_to(limit, self.config.total_timeout)
                if whole:
                    body = self._rewrite(call, cloud, response, body, root)
                    return web.Response(status=response.status, headers=headers, body=body)
                first = body  # a JSON body sent chunked and larger than the limit: relayed
            stream = web.StreamResponse(status=response.status, headers=headers)
            if response.content_length is not None:
                stream.content_length = response.content_length
            chunks = response.iter_chunks(self.config.total_timeout)
            stall = self.config.client_stall_timeout
            try:
                await stream.prepare(call.request)
                if first:
                    async with asyncio.timeout(stall):
                        await stream.write(first)
                while True:
                    # Only reading from the cloud is the cloud's business: a failed write
                    # is the client gone, a write that waits `stall` a client that stopped
                    # reading (TimeoutError is an OSError), holding one of the cloud's slots.
                    with map_upstream_errors(cloud.name):
                        chunk = await anext(chunks, None)
                    if chunk is None:
                        break
                    async with asyncio.timeout(stall):
                        await stream.write(chunk)
            except OSError:
                log.debug("the client went away or stalled mid-body (cloud %r)", cloud.name)
                if request.transport is not None:
                    request.transport.abort()
                return stream
            except ProxyError as exc:
                # The status line is gone: an error body would read as the end of the data.
                # Abort instead, so the client sees a broken transfer, never a short 200.
                log.warning("%s: cut mid-body, closing the client connection", exc.message)
                self.metrics.count_upstream(cloud.name, call.decision.service_type, None)
                if request.transport is not None:
                    request.transport.abort()
                return stream
            await stream.write_eof()
            return stream
        finally:
            response.release()

    async def buffer_one(self, call: Call, cloud: Cloud, url: str | None = None) -> Buffered:
        cloud = await self.with_endpoints(cloud, call.decision.service_type)
        response = await self._open(call, cloud, call.body, url)
        async with response:
            with map_upstream_errors(cloud.name):
                body = await response.read(self.config.total_timeout)
        root = service_root(upstream_url(cloud, call.decision.service_type, ""))
        headers = downstream_response_headers(response.headers)
        rewrite_headers(headers, root, call.proxy_prefix)
        if "Content-Encoding" not in response.headers:
            body = self._rewrite(call, cloud, response, body, root)
        return Buffered(cloud.name, response.status, headers, body)

    def _rewrite(
        self,
        call: Call,
        cloud: Cloud,
        response: UpstreamResponse,
        body: bytes,
        root: str,
    ) -> bytes:
        decision = call.decision
        if decision.service_type == IDENTITY and call.path in TOKEN_PATHS:
            body = self._rewrite_token(call, response, body)
        return rewrite_body(body, root, call.proxy_prefix)

    def _rewrite_token(self, call: Call, response: UpstreamResponse, body: bytes) -> bytes:
        try:
            document = json.loads(body)
        except ValueError:
            return body
        token = document.get("token") if isinstance(document, dict) else None
        catalog = token.get("catalog") if isinstance(token, dict) else document.get("catalog")
        if isinstance(catalog, list):
            rewrite_catalog(catalog, call.public_url, call.scoped_types)
        subject = response.headers.get("X-Subject-Token")
        if subject and call.scope_text and isinstance(token, dict):
            # Remember the scope for the token's life: services acting for the user send
            # the token without the header.
            try:
                deadline = parse_expiry(token.get("expires_at"))
            except ValueError:
                deadline = None  # the token is the client's to judge; remember it an hour
            self.memory.remember(subject, call.scope_text, deadline)
        return json.dumps(document).encode()


@functools.lru_cache(maxsize=256)
def _ca_context(cafile: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile)


def tls_for(cloud: Cloud) -> ssl.SSLContext | bool:
    """Verified by default; a cloud's own CA bundle when it names one; off only if asked."""
    if not cloud.verify:
        return False
    return _ca_context(cloud.cacert) if cloud.cacert else True


def _streams(data: Body) -> bool:
    return data is not None and not isinstance(data, bytes)


def _rewritable(response: UpstreamResponse, limit: int) -> bool:
    """JSON whose links can be rewritten: a known length within the limit, or no length
    (chunked) — then read_up_to finds out whether it ends within the limit."""
    if "Content-Encoding" in response.headers:
        return False
    if response.content_type != "application/json":
        return False
    length = response.content_length
    return length is None or length <= limit


async def gather_bounded(limit: int, *calls: Any) -> list[Any]:
    """Run coroutines with at most `limit` at once; exceptions are returned, not raised."""
    semaphore = asyncio.Semaphore(limit)

    async def bounded(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return await asyncio.gather(*(bounded(c) for c in calls), return_exceptions=True)
