"""One keep-alive HTTP/1.1 connection to a cloud, parsed by httptools (llhttp)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Protocol, cast

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from openstackoid.proxy.upstream.errors import BrokenUpstream as BrokenUpstream
from openstackoid.proxy.upstream.errors import RequestBodyFailed as RequestBodyFailed
from openstackoid.proxy.upstream.errors import StaleConnection as StaleConnection

HIGH_WATER = 512 * 1024
"""Buffered body bytes at which reading from the cloud pauses: memory stays bounded."""
LOW_WATER = 128 * 1024
RAW_BODY_FROM = 64 * 1024
"""Bodies of a known length at least this big bypass llhttp after the read that held their
head: llhttp hands each piece over as a copy, where the bytes read from the socket can go on
as they are (a download through the proxy spent a fifth of its CPU copying)."""


class _Source(Protocol):
    """Where a response's body comes from: reading pauses while too much is buffered."""

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def close(self) -> None: ...


class _Complete:
    """The source of an answer already whole in memory."""

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None

    def close(self) -> None:
        return None


class UpstreamResponse:
    """A response head, with its body delivered in chunks as they arrive."""

    __slots__ = (
        "root",
        "status",
        "headers",
        "content_length",
        "content_type",
        "_connection",
        "_chunks",
        "_buffered",
        "_done",
        "_error",
        "_waiter",
        "_on_release",
        "_released",
    )

    def __init__(
        self,
        connection: _Source,
        status: int,
        headers: CIMultiDict[str],
        on_release: Callable[[UpstreamConnection, bool], None] | None,
    ) -> None:
        self.root = ""
        """The cloud's service root the request went to: links under it point at the proxy."""
        self.status = status
        self.headers = CIMultiDictProxy(headers)
        length = headers.get("Content-Length")
        self.content_length = int(length) if length is not None and length.isdigit() else None
        self.content_type = headers.get("Content-Type", "").partition(";")[0].strip().lower()
        self._connection = connection
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._on_release = on_release
        self._released = False

    @classmethod
    def complete(
        cls, status: int, headers: CIMultiDict[str], body: bytes, root: str = ""
    ) -> UpstreamResponse:
        """An answer whole in memory (like httpx.Response(status, content=...)): what a
        fake `send` returns in tests."""
        response = cls(_Complete(), status, headers, None)
        response.root = root
        if body:
            response.feed(body)
        response.finish()
        return response

    @property
    def done(self) -> bool:
        return self._done or self._error is not None

    # Fed by the connection.
    def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered > HIGH_WATER:
            self._connection.pause_reading()
        self._wake()

    def finish(self) -> None:
        self._done = True
        self._wake()

    def fail(self, error: BaseException) -> None:
        if not self._done and self._error is None:
            self._error = error
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # Read by the proxy.
    async def iter_chunks(self, timeout: float) -> AsyncIterator[bytes]:
        """The body as it arrives; `timeout` bounds each wait for the next chunk."""
        connection = self._connection
        while True:
            if self._chunks:
                # Piece by piece, as read: joining them cost a copy of every byte, more
                # than the writes it saved once large bodies skip the parser (RAW_BODY_FROM).
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._buffered < LOW_WATER:
                    connection.resume_reading()
                yield chunk
                continue
            if self._error is not None:
                raise self._error
            if self._done:
                return
            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            timer = loop.call_later(timeout, self._time_out)
            try:
                await self._waiter
            finally:
                timer.cancel()
                self._waiter = None

    def _drain_all(self) -> bytes:
        joined = b"".join(self._chunks)
        self._chunks.clear()
        return joined

    def _take_whole(self) -> bytes:
        """The whole body, all of it buffered: reading resumes, or the connection would go
        back to the pool paused (a body over HIGH_WATER) and never read its next answer."""
        body = self._drain_all()
        self._buffered = 0
        self._connection.resume_reading()
        return body

    def _time_out(self) -> None:
        self.fail(TimeoutError("the cloud stopped sending the response body"))
        self._connection.close()

    async def read(self, timeout: float) -> bytes:
        if self._done and self._error is None:  # common case: small body already here
            return self._take_whole()
        return b"".join([chunk async for chunk in self.iter_chunks(timeout)])

    async def read_up_to(self, limit: int, timeout: float) -> tuple[bytes, bool]:
        """The body if it ends within `limit` bytes (True), else what arrived so far (False);
        the rest stays readable with iter_chunks."""
        if self._done and self._error is None:  # common case: a small body already here
            body = self._take_whole()
            return body, len(body) <= limit
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.iter_chunks(timeout):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(chunks), False
        return b"".join(chunks), True

    def release(self) -> None:
        """Give the connection back for reuse if the body was read whole, else close it."""
        if self._released:
            return
        self._released = True
        reusable = self._done and self._error is None and not self._chunks
        if self._on_release is not None:
            # Only the pool sets on_release, and its responses come from its connections.
            self._on_release(cast(UpstreamConnection, self._connection), reusable)

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()


MAX_HEAD_BYTES = 64 * 1024
"""A cloud's response head (status line and headers) may not be longer: 1 MB headers and
100,000 of them were relayed (issue 15). OpenStack's heads are under 2 KB."""
MAX_HEADERS = 256


class UpstreamConnection(asyncio.Protocol):
    """asyncio protocol + llhttp callbacks. One request at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep_alive = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._head: asyncio.Future[UpstreamResponse] | None = None
        self._response: UpstreamResponse | None = None
        self._header_list: list[tuple[str, str]] = []
        self._head_bytes = 0
        self._head_request = False
        self._informational = False
        self._until_eof = False
        self._raw_left = 0
        """Body bytes still to come; past the first read they skip the parser."""
        self._received = False
        self._write_paused = False
        self._drain: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._on_release: Callable[[UpstreamConnection, bool], None] | None = None
        self._continue: asyncio.Future[None] | None = None
        """Set while a request sent with `Expect: 100-continue` waits to send its body."""

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._received = True
        if self._raw_left:
            self._raw_body(data)
            return
        if self._head is None and (self._response is None or self._response.done):
            self.close()  # bytes nobody asked for: the connection cannot be trusted
            return
        if self._head is not None:
            # Every byte before this read was head (it is not complete): llhttp would
            # buffer a header of any length.
            if self._head_bytes > MAX_HEAD_BYTES:
                self._break(BrokenUpstream(f"its response head passed {MAX_HEAD_BYTES} bytes"))
                return
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, BrokenUpstream):  # raised by a callback of ours
                self._break(exc.__context__)
            else:
                self._break(BrokenUpstream(f"the cloud sent invalid HTTP: {exc}"))

    def _raw_body(self, data: bytes) -> None:
        response = self._response
        assert response is not None
        left = self._raw_left
        piece = data if len(data) <= left else data[:left]
        self._raw_left = left - len(piece)
        response.feed(piece)
        if self._raw_left == 0:
            # The parser still waits for this body: a fresh one reads the next answer.
            self._parser = httptools.HttpResponseParser(self)
            response.finish()
            if len(piece) < len(data):
                self.close()  # bytes nobody asked for: the connection cannot be trusted

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self._response
        if response is not None and self._until_eof and exc is None:
            response.finish()  # no length, not chunked: the body ends with the connection
        elif self._received:
            self._break(BrokenUpstream("the cloud closed the connection mid-response"))
        else:
            self._break(StaleConnection("the cloud closed the connection before answering"))
        waiter = self._drain
        if waiter is not None and not waiter.done():
            waiter.set_exception(BrokenUpstream("the cloud closed the connection"))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # llhttp callbacks
    def on_message_begin(self) -> None:
        self._header_list = []

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self._header_list) >= MAX_HEADERS:
            raise BrokenUpstream(f"it sent more than {MAX_HEADERS} response headers")
        self._header_list.append(
            (name.decode("latin-1"), value.decode("utf-8", errors="surrogateescape"))
        )

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            self._informational = True  # e.g. 100 Continue: the real answer follows
            waiter = self._continue
            if status == 100 and waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        headers = CIMultiDict(self._header_list)
        response = UpstreamResponse(self, status, headers, self._on_release)
        self._response = response
        self.keep_alive = self._parser.should_keep_alive()
        encoding = headers.get("Transfer-Encoding", "")
        chunked = "chunked" in encoding.lower()
        self._until_eof = response.content_length is None and not chunked
        if self._head_request or status in (204, 304):
            # llhttp cannot be told a HEAD has no body: end here, fresh parser for the next.
            self._until_eof = False
            self._parser = httptools.HttpResponseParser(self)
            response.finish()
        elif not chunked and (response.content_length or 0) >= RAW_BODY_FROM:
            self._raw_left = response.content_length or 0
        head = self._head
        self._head = None
        if head is not None and not head.done():
            head.set_result(response)

    def on_body(self, body: bytes) -> None:
        if self._response is not None:
            if self._raw_left:
                self._raw_left -= len(body)
            self._response.feed(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        if self._response is not None:
            self._until_eof = False
            self._raw_left = 0
            self._response.finish()

    # Used by the pool
    async def send(
        self,
        head: bytes,
        body: bytes | AsyncIterator[bytes] | None,
        *,
        chunked: bool,
        is_head: bool,
        timeout: float,
        body_timeout: float,
        on_release: Callable[[UpstreamConnection, bool], None],
        expect_continue: float = 0.0,
    ) -> UpstreamResponse:
        """Write the request and wait for the response head. With `expect_continue` (the
        head says `Expect: 100-continue`), a streamed body waits that many seconds for the
        cloud's 100 Continue; a final answer first means the body is never read from the
        client (and the connection is not reused: the cloud may still wait for it)."""
        if self.closed:
            # Lost between connecting and this call (a cloud going down resets connections
            # its kernel had accepted): nothing would ever answer, and the request would
            # wait the whole timeout for a 504 instead of failing now.
            raise StaleConnection("the cloud closed the connection before the request")
        self._on_release = on_release
        transport = self.transport
        assert transport is not None
        loop = asyncio.get_running_loop()
        self._head = loop.create_future()
        self._head_bytes = 0
        self._response = None
        self._received = False
        self._head_request = is_head
        head_waiter = self._head
        if body is None or isinstance(body, bytes):
            transport.write(head + body if body else head)
        else:
            transport.write(head)
            if expect_continue and await self._answered_first(head_waiter, expect_continue):
                response = await head_waiter
                self.keep_alive = False
                return response
            await self._upload(body, chunked, timeout, body_timeout)
        timer = loop.call_later(timeout, self._time_out)
        try:
            return await head_waiter
        finally:
            timer.cancel()

    async def _answered_first(self, head: asyncio.Future[UpstreamResponse], wait: float) -> bool:
        """Whether the cloud gave its final answer (or failed) before a 100 Continue came or
        `wait` passed (a cloud that ignores Expect gets the body after it)."""
        self._continue = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait((self._continue, head), timeout=wait, return_when="FIRST_COMPLETED")
        finally:
            self._continue.cancel()
            self._continue = None
        return head.done()

    async def _upload(
        self, body: AsyncIterator[bytes], chunked: bool, timeout: float, body_timeout: float
    ) -> None:
        """The whole body, then the answer: OpenStack APIs answer once they have read it.
        An early answer with the connection closed (413, 401) ends the upload."""
        transport = self.transport
        assert transport is not None
        loop = asyncio.get_running_loop()
        chunks = aiter(body)
        while True:
            try:
                async with asyncio.timeout(body_timeout):  # a client that stalls holds a slot
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            except Exception as exc:
                self.close()
                raise RequestBodyFailed(f"{exc.__class__.__name__}: {exc}") from exc
            if self.closed:
                return
            if chunked:
                transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            else:
                transport.write(chunk)
            if self._write_paused:
                self._drain = loop.create_future()
                timer = loop.call_later(timeout, self._time_out)
                try:
                    await self._drain
                finally:
                    timer.cancel()
        if chunked and not self.closed:
            transport.write(b"0\r\n\r\n")

    def _time_out(self) -> None:
        self._break(TimeoutError("the cloud did not answer in time"))
        self.close()

    def _break(self, error: BaseException) -> None:
        head = self._head
        self._head = None
        if head is not None and not head.done():
            head.set_exception(error)
        if self._response is not None:
            self._response.fail(error)
        self.close()

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None and not self.closed:
            self._reading_paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
