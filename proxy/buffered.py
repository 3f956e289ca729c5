"""A cloud's whole answer, held for merging and failover."""

from __future__ import annotations

from dataclasses import dataclass

from multidict import CIMultiDict, CIMultiDictProxy

from openstackoid.proxy.errors import UpstreamUnavailable, map_upstream_errors
from openstackoid.proxy.headers import downstream_response_headers
from openstackoid.proxy.upstream.client import Send, UpstreamRequest
from openstackoid.proxy.upstream.connection import UpstreamResponse


@dataclass(frozen=True, slots=True)
class Buffered:
    cloud: str
    status: int
    headers: CIMultiDictProxy[str]
    """The answer's end-to-end headers (hop-by-hop ones dropped)."""
    body: bytes
    root: str = ""
    """The cloud's service root its links are under; "" for an answer the proxy made."""

    def with_header(self, name: str, value: str) -> Buffered:
        headers = CIMultiDict(self.headers)
        headers[name] = value
        return Buffered(self.cloud, self.status, CIMultiDictProxy(headers), self.body, self.root)

    def with_body(self, body: bytes, headers: CIMultiDict[str] | None = None) -> Buffered:
        kept = self.headers if headers is None else CIMultiDictProxy(headers)
        return Buffered(self.cloud, self.status, kept, body, self.root)


async def buffer(
    send: Send, request: UpstreamRequest, timeout: float, limit: int = 4 * 1024 * 1024
) -> Buffered:
    """Send, then read the whole answer (`timeout` bounds each wait for more of it). An
    answer past `limit` bytes is the cloud's failure: a 1 GiB answer to merge took the
    proxy to 2.7 GB (issue 15)."""
    return await held(request.cloud.name, await send(request), timeout, limit)


async def held(cloud: str, response: UpstreamResponse, timeout: float, limit: int) -> Buffered:
    """An answer already started, read whole (at most `limit` bytes) and released."""
    async with response:  # released half-read: the connection is closed, not reused
        with map_upstream_errors(cloud):
            body, whole = await response.read_up_to(limit, timeout)
        if not whole:
            raise UpstreamUnavailable(
                f"cloud {cloud!r} answered more than {limit} bytes "
                "(max_rewrite_bytes), more than the proxy holds to merge or fail over"
            )
    headers = CIMultiDictProxy(downstream_response_headers(response.headers))
    return Buffered(cloud, response.status, headers, body, response.root)


def made(status: int, headers: CIMultiDict[str], body: bytes) -> Buffered:
    """An answer the proxy made (a merge, a page of several clouds)."""
    return Buffered("", status, CIMultiDictProxy(headers), body)
