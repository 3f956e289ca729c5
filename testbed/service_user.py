"""What one simulated service sends when it calls another, as the real services do.

Nova asks Glance with the user's token, its own service user's token (X-Service-Token, from
its own cloud's Keystone: nova.service_auth) and the global request id; nothing else of the
user's request travels on (no X-Scope, no other client header).
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from openstackoid.testbed.identity import parse_iso
from openstackoid.testbed.model import CloudState, service_auth_body

SERVICE_TOKEN_MARGIN = 60.0
"""keystoneauth renews a token this close (seconds) to its expiry."""
_GLOBAL_ID = re.compile(r"^req-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")
"""oslo.middleware's request_id accepts only this shape of inbound global request id."""
LOCAL_REQUEST_ID = web.RequestKey("local_request_id", str)


class ServiceAuthError(Exception):
    """A cloud's own Keystone refused its service user."""


@dataclass(frozen=True)
class ServiceCall:
    """The identity one service presents to another on behalf of a user."""

    user_token: str
    service_token: str
    global_request_id: str


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


def global_request_id(request: web.Request) -> str:
    """The caller's request id if well formed, else this service's own."""
    inbound = request.headers.get("X-Openstack-Request-Id", "")
    return inbound if _GLOBAL_ID.match(inbound) else request[LOCAL_REQUEST_ID]


async def service_token(session: aiohttp.ClientSession, cloud: CloudState) -> str:
    """The cloud's service user token, asked of its own Keystone over HTTP and reused."""
    cached = cloud.service_token
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    url = f"{cloud.info.auth_url}/auth/tokens"
    async with session.post(url, json=service_auth_body(cloud)) as resp:
        body = await resp.json(content_type=None)
        token = resp.headers.get("X-Subject-Token")
        if resp.status != 201 or token is None:
            raise ServiceAuthError(f"{cloud.name}'s Keystone refused its service user")
    lifetime = parse_iso(body["token"]["expires_at"]) - time.time()
    cloud.service_token = (token, time.monotonic() + lifetime - SERVICE_TOKEN_MARGIN)
    return token


async def service_call(
    request: web.Request, session: aiohttp.ClientSession, cloud: CloudState
) -> ServiceCall:
    return ServiceCall(
        user_token=request.headers.get("X-Auth-Token", ""),
        service_token=await service_token(session, cloud),
        global_request_id=global_request_id(request),
    )
