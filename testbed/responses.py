"""Response helpers: OpenStack error shapes and fault-aware body writing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from openstackoid.testbed.model import Faults

CHUNK = 64 * 1024


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    503: "Service Unavailable",
}


def keystone_error(status: int, message: str) -> web.Response:
    """Keystone (and keystonemiddleware) shape, read by keystoneauth's from_response."""
    body = {"error": {"code": status, "title": _TITLES.get(status, "Error"), "message": message}}
    return json_response(body, status)


def nova_error(status: int, message: str) -> web.Response:
    kinds = {
        400: "badRequest",
        403: "forbidden",
        404: "itemNotFound",
        409: "conflictingRequest",
        413: "overLimit",
    }
    kind = kinds.get(status, "computeFault")
    return json_response({kind: {"code": status, "message": message}}, status)


def neutron_error(status: int, kind: str, message: str) -> web.Response:
    return json_response({"NeutronError": {"type": kind, "message": message, "detail": ""}}, status)


def glance_error(status: int, message: str) -> web.Response:
    # Glance answers webob's plain text errors; keystoneauth shows the text.
    title = _TITLES.get(status, "Error")
    return web.Response(
        text=f"{status} {title}\n\n{message}\n\n   ", status=status, content_type="text/plain"
    )


async def send_body(
    request: web.Request, response: web.Response, faults: Faults
) -> web.StreamResponse:
    """Send a prepared response honouring slow_body and reset_mid_body faults."""
    if not (faults.slow_body or faults.reset_mid_body):
        return response
    body = response.body if isinstance(response.body, bytes) else b""
    stream = web.StreamResponse(status=response.status, headers=response.headers)
    stream.content_length = len(body)
    await stream.prepare(request)
    if faults.reset_mid_body:
        await stream.write(body[: len(body) // 2])
        if request.transport is not None:
            request.transport.abort()  # the peer sees a reset, not a clean end
        return stream
    pieces = [body[i : i + 64] for i in range(0, len(body), 64)] or [b""]
    for piece in pieces:
        await asyncio.sleep(faults.slow_body / len(pieces))
        await stream.write(piece)
    await stream.write_eof()
    return stream
