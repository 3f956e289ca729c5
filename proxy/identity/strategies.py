"""Identity strategies. Tokens from cloud A reach cloud B only if the strategy says so."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Protocol

import aiohttp
from cachetools import TLRUCache

from proxy.errors import Forbidden, ProxyError, UpstreamUnavailable, map_upstream_errors
from registry import Cloud

SERVICE_TOKEN_MARGIN = 60.0
"""Seconds before expiry at which a cached token counts as expired."""


class Unauthorized(ProxyError):
    status = 401
    title = "Unauthorized"


def token_key(token: str) -> str:
    """Caches and logs key tokens by digest: the token itself is never kept in clear."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_expiry(expires_at: str | None, default_ttl: float = 3600.0) -> float:
    """Keystone's expires_at as a time.monotonic() deadline; `default_ttl` when absent.
    A malformed one raises ValueError: a validation answer with it is a broken Keystone."""
    if not expires_at:
        return time.monotonic() + default_ttl
    if not isinstance(expires_at, str):
        raise ValueError(f"expires_at is not a string: {expires_at!r}")
    moment = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return time.monotonic() + (moment - datetime.now(UTC)).total_seconds()


def _until(_key: str, value: tuple[str, float], _now: float) -> float:
    return value[1]


async def _token_deadline(
    resp: aiohttp.ClientResponse, cloud: Cloud, expected: int
) -> float | None:
    """When the token of a Keystone answer expires (a time.monotonic() deadline), None for a
    refusal. A 5xx or a malformed body is the cloud's failure (502), not a refusal of the
    caller's token or of the proxy's credentials."""
    if resp.status >= 500:
        raise UpstreamUnavailable(f"the Keystone of cloud {cloud.name!r} failed ({resp.status})")
    if resp.status != expected:
        return None
    try:
        body = await resp.json(content_type=None)
        return parse_expiry(body.get("token", {}).get("expires_at"))
    except (ValueError, TypeError, AttributeError) as exc:
        raise UpstreamUnavailable(f"the Keystone of cloud {cloud.name!r} sent no token") from exc


class IdentityStrategy(Protocol):
    async def token_for(
        self, session: aiohttp.ClientSession, issuer: Cloud | None, target: Cloud, token: str | None
    ) -> str | None:
        """The X-Auth-Token to send to `target` for a caller holding `token`."""
        ...

    def forget(self, target: Cloud) -> None:
        """Drop any token the proxy holds for `target` (it was refused)."""
        ...


class Passthrough:
    """The clouds share identity: the caller's token is valid everywhere."""

    async def token_for(
        self, session: aiohttp.ClientSession, issuer: Cloud | None, target: Cloud, token: str | None
    ) -> str | None:
        return token

    def forget(self, target: Cloud) -> None:
        return None


class ValidateAtIssuer:
    """The caller's token is checked by the Keystone that issued it; other clouds get a token
    the proxy obtains with that cloud's registered credentials."""

    def __init__(self, max_tokens: int = 100_000) -> None:
        # key -> (subject, deadline); validations keyed by the caller's token digest.
        self._validated: TLRUCache[str, tuple[str, float]] = TLRUCache(max_tokens, _until)
        self._service_tokens: TLRUCache[str, tuple[str, float]] = TLRUCache(max_tokens, _until)

    async def token_for(
        self, session: aiohttp.ClientSession, issuer: Cloud | None, target: Cloud, token: str | None
    ) -> str | None:
        if token is None or issuer is None or issuer.name == target.name:
            return token
        await self._validate(session, issuer, token)
        return await self._service_token(session, target)

    def forget(self, target: Cloud) -> None:
        self._service_tokens.pop(target.name, None)

    async def _validate(self, session: aiohttp.ClientSession, issuer: Cloud, token: str) -> None:
        key = token_key(token)
        if key in self._validated:
            return
        headers = {"X-Auth-Token": token, "X-Subject-Token": token}
        url = f"{issuer.auth_url}/auth/tokens"
        with map_upstream_errors(issuer.name):
            # No redirects: the caller's token goes to its issuer and nowhere else.
            async with session.get(url, headers=headers, allow_redirects=False) as resp:
                deadline = await _token_deadline(resp, issuer, 200)
        if deadline is None:
            raise Unauthorized(
                f"The token was not accepted by its issuer {issuer.name!r} "
                f"(status {resp.status}); authenticate again."
            )
        self._validated[key] = (issuer.name, deadline)

    async def _service_token(self, session: aiohttp.ClientSession, target: Cloud) -> str:
        cached = self._service_tokens.get(target.name)
        if cached is not None:
            return cached[0]
        if target.credentials is None:
            raise Forbidden(
                f"openstackoid has no credentials for cloud {target.name!r}: "
                "register them to reach it across identities"
            )
        body = target.credentials.keystone_auth_body()
        with map_upstream_errors(target.name):
            # No redirects: a 307 would post the cloud's password to wherever it points.
            async with session.post(
                f"{target.auth_url}/auth/tokens", json=body, allow_redirects=False
            ) as resp:
                deadline = await _token_deadline(resp, target, 201)
                service_token = resp.headers.get("X-Subject-Token")
        if deadline is None or service_token is None:
            raise Forbidden(
                f"cloud {target.name!r} refused openstackoid's credentials (status {resp.status})"
            )
        self._service_tokens[target.name] = (service_token, deadline - SERVICE_TOKEN_MARGIN)
        return service_token


def make_strategy(name: str) -> IdentityStrategy:
    if name == "passthrough":
        return Passthrough()
    if name == "validate-at-issuer":
        return ValidateAtIssuer()
    raise ValueError(f"unknown identity strategy {name!r}")
