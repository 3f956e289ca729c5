"""A `|` upload too big to hold: the member is picked before any byte of the body is sent.

A body sent with `a | b` is held (up to max_replay_bytes) so the next member can get it
again. A bigger one (an image) streams instead: members are tried in order, and one whose
circuit is open, or that cannot be connected to, is passed over before the body is touched,
so the next member still gets all of it. What remains: a member that fails *after* the body
started flowing to it cannot be retried, nothing held the bytes already sent; that failure
is the answer, and says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from openstackoid.proxy.errors import ProxyError, RequestBodyIncomplete, UpstreamUnavailable
from openstackoid.proxy.listing import PARTIAL_FAILURE
from openstackoid.proxy.relay import Relay
from openstackoid.proxy.replay import read_replayable
from openstackoid.proxy.request import ProxyRequest
from openstackoid.proxy.routing import AllNode, AnyNode, CloudNode, Node
from openstackoid.proxy.upstream.client import Send
from openstackoid.proxy.upstream.pool import Body
from openstackoid.registry import Cloud


class StreamedBody:
    """The client's body as it arrives, after the part read while deciding; `started` says
    whether a member took any of it (from then on, no other member can have it)."""

    def __init__(self, first: bytes, rest: AsyncIterator[bytes]) -> None:
        self._first = first
        self._rest = rest
        self.started = False

    def __aiter__(self) -> StreamedBody:
        return self

    async def __anext__(self) -> bytes:
        self.started = True
        if self._first:
            first, self._first = self._first, b""
            return first
        return await anext(self._rest)


def members(node: Node) -> tuple[Cloud, ...] | None:
    """The clouds of a failover between single clouds, in order (nested `|` spliced);
    None for any other plan."""
    match node:
        case CloudNode(cloud=cloud):
            return (cloud,)
        case AnyNode(children=children):
            found: list[Cloud] = []
            for child in children:
                inner = members(child)
                if inner is None:
                    return None
                found += inner
            return tuple(found)
        case AllNode():
            return None


async def held_or_streamed(request: web.Request, limit: int, node: Node) -> Body:
    """The body of a request to several clouds: held when it fits in `limit` bytes (it is
    replayed on failover), streamed when it is bigger and the plan is a `|` of clouds."""
    length = request.content_length
    if members(node) is None or (length is not None and length <= limit):
        return await read_replayable(request, limit)  # 413 when too big
    if length is not None:
        return StreamedBody(b"", request.content.iter_any())
    chunks: list[bytes] = []
    size = 0
    stream = request.content.iter_any()
    try:
        async for chunk in stream:
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return StreamedBody(b"".join(chunks), stream)
    except (ConnectionError, HttpProcessingError) as exc:  # the client left, or broke it
        raise RequestBodyIncomplete(f"the request body broke off: {exc}") from exc
    return b"".join(chunks)


async def relay_first(
    relay: Relay, send: Send, client: web.Request, request: ProxyRequest, clouds: tuple[Cloud, ...]
) -> web.StreamResponse:
    """The first member that takes the streamed body, its answer relayed; the members
    passed over are named in the partial failure header."""
    body = request.body
    assert isinstance(body, StreamedBody)
    failures: list[str] = []
    for cloud in clouds:
        try:
            upstream = await send(request.to(cloud)._replace(expect_continue=True))
        except RequestBodyIncomplete:
            raise  # the client's failure: no other member would get more of it
        except ProxyError as exc:
            if body.started:
                raise type(exc)(
                    f"{exc.message} (the body had started streaming to it: a body over "
                    "max_replay_bytes is not held, so no other member can be tried)"
                ) from exc
            failures.append(exc.message)
            continue
        if upstream.status >= 500 and not body.started and cloud is not clouds[-1]:
            # It answered before asking for the body (Expect: 100-continue): the next may do.
            upstream.release()
            failures.append(f"cloud {cloud.name!r}: status {upstream.status}")
            continue
        response = await relay.answer(client, request, cloud.name, upstream)
        if failures and not response.prepared:
            response.headers[PARTIAL_FAILURE] = "; ".join(failures)[:4000]
        return response
    raise UpstreamUnavailable("no cloud answered: " + "; ".join(failures))
