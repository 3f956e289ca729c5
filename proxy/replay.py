"""Request bodies the proxy holds to replay them on the next cloud (`|` failover): bounded,
or one client could make the proxy hold any amount of memory."""

from __future__ import annotations

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from openstackoid.proxy.errors import PayloadTooLarge, RequestBodyIncomplete


async def read_replayable(request: web.Request, limit: int) -> bytes:
    """The whole body, refused as soon as it is known to exceed `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except (ConnectionError, HttpProcessingError) as exc:  # the client left, or broke it
        raise RequestBodyIncomplete(f"the request body broke off: {exc}") from exc
    return b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"a body sent with '|' failover is held to be replayed on the next cloud: at most "
        f"{limit} bytes (max_replay_bytes); name one cloud to stream a bigger one"
    )
