"""The one Keystone login of openstackoid: a cloud's registered credentials for a token and
its catalog (POST /v3/auth/tokens). Endpoint discovery and service tokens share it.

aiohttp, not keystoneauth1: keystoneauth1 is synchronous (requests), and a login must not
stop the proxy's event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from openstackoid.registry.errors import LoginFailed, LoginRefused, NoCredentials
from openstackoid.registry.model import Cloud
from openstackoid.registry.tls import tls_for


@dataclass(frozen=True)
class Login:
    token: str
    expires_at: str | None
    """Keystone's `expires_at`, as sent."""
    catalog: tuple[dict[str, Any], ...]


async def login(session: aiohttp.ClientSession, cloud: Cloud) -> Login:
    """Log in to `cloud` with its registered credentials; raises LoginRefused, LoginFailed,
    NoCredentials, or aiohttp's client errors when the cloud cannot be reached."""
    if cloud.credentials is None:
        raise NoCredentials(f"openstackoid has no credentials for cloud {cloud.name!r}")
    body = cloud.credentials.keystone_auth_body()
    url = f"{cloud.auth_url}/auth/tokens"
    # No redirects: a 307 would post the cloud's password to wherever it points.
    async with session.post(url, json=body, allow_redirects=False, ssl=tls_for(cloud)) as resp:
        if resp.status >= 500:
            raise LoginFailed(f"the Keystone of cloud {cloud.name!r} failed ({resp.status})")
        if resp.status != 201:
            raise LoginRefused(cloud.name, resp.status)
        token = resp.headers.get("X-Subject-Token")
        try:
            document = await resp.json(content_type=None)
            issued = document["token"]
            catalog = tuple(issued.get("catalog") or ())
            expires_at = issued.get("expires_at")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise LoginFailed(f"the Keystone of cloud {cloud.name!r} sent no token") from exc
    if not token:
        raise LoginFailed(f"the Keystone of cloud {cloud.name!r} sent no token")
    return Login(token, expires_at, catalog)
