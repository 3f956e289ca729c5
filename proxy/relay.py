"""One cloud's answer written to the client: whole when its links need rewriting, else
streamed as it arrives. The only module below the handler that holds aiohttp's request:
writing to the client is what it does."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web
from multidict import CIMultiDict

from openstackoid.proxy.errors import ProxyError, map_upstream_errors
from openstackoid.proxy.headers import downstream_response_headers
from openstackoid.proxy.metrics import ProxyMetrics
from openstackoid.proxy.request import ProxyRequest
from openstackoid.proxy.rewrite_links import rewrite_headers
from openstackoid.proxy.upstream.connection import UpstreamResponse

log = logging.getLogger("openstackoid.proxy")

RewriteWhole = Callable[[ProxyRequest, UpstreamResponse, bytes], bytes]
"""The handler's rewrite of a whole JSON answer (links, a token's catalog)."""


class Relay:
    def __init__(
        self,
        rewrite: RewriteWhole,
        metrics: ProxyMetrics,
        max_rewrite_bytes: int,
        read_timeout: float,
        client_stall_timeout: float,
    ) -> None:
        self.rewrite = rewrite
        self.metrics = metrics
        self.max_rewrite_bytes = max_rewrite_bytes
        self.read_timeout = read_timeout
        self.stall = client_stall_timeout

    async def answer(
        self,
        client: web.Request,
        request: ProxyRequest,
        cloud: str,
        response: UpstreamResponse,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> web.StreamResponse:
        """`extra`: headers the proxy adds (a failover's partial failure)."""
        try:
            headers = downstream_response_headers(response.headers)
            rewrite_headers(headers, response.root, request.proxy_prefix)
            headers.extend(extra)
            limit = self.max_rewrite_bytes
            first = b""
            if _rewritable(response, limit):
                with map_upstream_errors(cloud):
                    body, whole = await response.read_up_to(limit, self.read_timeout)
                if whole:
                    body = self.rewrite(request, response, body)
                    return web.Response(status=response.status, headers=headers, body=body)
                first = body  # a JSON body sent chunked and larger than the limit: relayed
            stream = web.StreamResponse(status=response.status, headers=headers)
            if response.content_length is not None:
                stream.content_length = response.content_length
            return await self._stream(client, request, cloud, response, stream, first)
        finally:
            response.release()

    async def _stream(
        self,
        client: web.Request,
        request: ProxyRequest,
        cloud: str,
        response: UpstreamResponse,
        stream: web.StreamResponse,
        first: bytes,
    ) -> web.StreamResponse:
        chunks = response.iter_chunks(self.read_timeout)
        stall = self.stall
        try:
            await stream.prepare(client)
            if first:
                async with asyncio.timeout(stall):
                    await stream.write(first)
            while True:
                # Only reading from the cloud is the cloud's business: a failed write
                # is the client gone, a write that waits `stall` a client that stopped
                # reading (TimeoutError is an OSError), holding one of the cloud's slots.
                with map_upstream_errors(cloud):
                    chunk = await anext(chunks, None)
                if chunk is None:
                    break
                async with asyncio.timeout(stall):
                    await stream.write(chunk)
        except OSError as exc:
            self._drop(client, exc, cloud)
            return stream
        except ProxyError as exc:
            # The status line is gone: an error body would read as the end of the data.
            # Abort instead, so the client sees a broken transfer, never a short 200.
            log.warning("%s: cut mid-body, closing the client connection", exc.message)
            self.metrics.count_upstream(cloud, request.service_type, None)
            if client.transport is not None:
                client.transport.abort()
            return stream
        await stream.write_eof()
        return stream

    def _drop(self, client: web.Request, exc: OSError, cloud: str) -> None:
        """The client went away, or stalled: a write waited `stall` (TimeoutError)."""
        if isinstance(exc, TimeoutError):
            self.metrics.client_stalls.inc()
        log.debug("the client went away or stalled mid-body (cloud %r)", cloud)
        if client.transport is not None:
            client.transport.abort()

    async def whole(
        self, client: web.Request, status: int, headers: CIMultiDict[str], body: bytes
    ) -> web.StreamResponse:
        """An answer the proxy holds whole (a merge, a failover's buffered answer), written
        under the same stall bound as a streamed one: clients that never read 200 MB
        answers held them 45 s (issue 15). Small ones fit the socket buffers at once."""
        if len(body) <= WHOLE_PIECE:
            return web.Response(status=status, headers=headers, body=body)
        stream = web.StreamResponse(status=status, headers=headers)
        stream.content_length = len(body)
        view = memoryview(body)
        try:
            await stream.prepare(client)
            for start in range(0, len(body), WHOLE_PIECE):
                async with asyncio.timeout(self.stall):
                    await stream.write(view[start : start + WHOLE_PIECE])
            await stream.write_eof()
        except OSError as exc:
            self._drop(client, exc, "several")
        return stream


WHOLE_PIECE = 256 * 1024


def _rewritable(response: UpstreamResponse, limit: int) -> bool:
    """JSON whose links can be rewritten: a known length within the limit, or no length
    (chunked) — then read_up_to finds out whether it ends within the limit."""
    if "Content-Encoding" in response.headers:
        return False
    if response.content_type != "application/json":
        return False
    length = response.content_length
    return length is None or length <= limit
