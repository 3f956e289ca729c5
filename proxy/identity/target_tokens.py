"""Tokens of the target credentials mapping rules name, one login per (rule, target,
credential) kept until shortly before it expires.

A login whose token carries the `admin` role is refused unless the rule allows it: a
credential registered as least-privileged must be, whatever the operator believed.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from openstackoid.proxy.identity.errors import (
    MappedLoginFailed,
    MappedLoginRefused,
    MappedRoleRefused,
)
from openstackoid.proxy.identity.tokens import parse_expiry
from openstackoid.registry.caller import token_roles
from openstackoid.registry.mapping import IdentityMapping
from openstackoid.registry.model import Cloud
from openstackoid.registry.rules import TargetCredential

MARGIN = 60.0
"""Seconds before expiry at which a kept token counts as expired (keystoneauth's own
refresh margin is of this order)."""
MAX_TOKENS = 100_000
ADMIN_ROLE = "admin"


@dataclass(frozen=True, slots=True)
class TargetLogin:
    token: str = ""
    expires: float = 0.0
    """time.monotonic() deadline of the token."""
    roles: frozenset[str] = frozenset()


LoginFn = Callable[[Cloud, TargetCredential], Awaitable[TargetLogin]]


class TargetTokens:
    def __init__(self, login: LoginFn, max_tokens: int = MAX_TOKENS) -> None:
        self._login = login
        self._max = max_tokens
        self._kept: dict[tuple[str | None, str, TargetCredential], tuple[str, float]] = {}
        self._locks: dict[tuple[str | None, str, TargetCredential], asyncio.Lock] = {}

    def __len__(self) -> int:
        return len(self._kept)

    async def token(self, mapping: IdentityMapping, target: Cloud) -> tuple[str, float]:
        """The token to act at `target` as `mapping.credential` (which must be set), and
        the time.monotonic() until which it is kept."""
        credential = mapping.credential
        assert credential is not None
        key = (mapping.rule, target.name, credential)
        kept = self._kept.get(key)
        if kept is not None and kept[1] > time.monotonic():
            return kept
        if len(self._locks) >= self._max:
            self._locks.clear()  # bounded; at worst two logins for one key race once
        async with self._locks.setdefault(key, asyncio.Lock()):
            kept = self._kept.get(key)
            if kept is not None and kept[1] > time.monotonic():
                return kept
            fresh = await self._login(target, credential)
            if ADMIN_ROLE in fresh.roles and not mapping.allow_admin:
                raise MappedRoleRefused(mapping, target.name)
            if len(self._kept) >= self._max:
                self._kept.clear()
            kept = self._kept[key] = (fresh.token, fresh.expires - MARGIN)
            return kept

    def forget(self, target: Cloud) -> None:
        """The target refused a kept token: the next call logs in again."""
        for key in [k for k in self._kept if k[1] == target.name]:
            del self._kept[key]


async def login_as(
    session: aiohttp.ClientSession,
    cloud: Cloud,
    credential: TargetCredential,
    tls: ssl.SSLContext | bool,
) -> TargetLogin:
    """POST /v3/auth/tokens at `cloud` as `credential`: its token, expiry and roles."""
    body = credential.credentials.keystone_auth_body()
    url = f"{cloud.auth_url}/auth/tokens"
    # No redirects: a 307 would post the credential's secret to wherever it points.
    async with session.post(url, json=body, allow_redirects=False, ssl=tls) as resp:
        if resp.status >= 500:
            raise MappedLoginFailed(f"the Keystone of cloud {cloud.name!r} failed ({resp.status})")
        if resp.status != 201:
            raise MappedLoginRefused(credential, resp.status)
        token = resp.headers.get("X-Subject-Token")
        try:
            document = await resp.json(content_type=None)
            roles = token_roles(document)
            expires = parse_expiry(document["token"].get("expires_at"))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise MappedLoginFailed(f"the Keystone of cloud {cloud.name!r} sent no token") from exc
    if not token:
        raise MappedLoginFailed(f"the Keystone of cloud {cloud.name!r} sent no token")
    return TargetLogin(token, expires, roles)
