"""validate-at-issuer with mapping rules: who the caller is (asked of the issuer, kept at
most `token_cache_seconds`), who the rules let it be at the target, and that identity's
token. A denial raises before anything is sent to the target."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple
from urllib.parse import quote

import aiohttp

from openstackoid.proxy.errors import (
    Forbidden,
    Unauthorized,
    UpstreamUnavailable,
    map_upstream_errors,
)
from openstackoid.proxy.identity.errors import MappingDenied
from openstackoid.proxy.identity.target_tokens import TargetTokens
from openstackoid.proxy.identity.tokens import parse_expiry, token_key
from openstackoid.proxy.identity.validations import ValidationCache
from openstackoid.registry.caller import CallerIdentity, caller_from_token, group_ids
from openstackoid.registry.index import Registry
from openstackoid.registry.mapping import Denial, RuleBook
from openstackoid.registry.model import Cloud

CheckFn = Callable[[Cloud, str], Awaitable[tuple[CallerIdentity, float]]]
"""Validate a token at its issuer: the caller and the token's monotonic expiry; raises
Unauthorized when the issuer refuses it."""
GroupsFn = Callable[[Cloud, str, str], Awaitable[frozenset[str]]]
"""The group ids of a caller (issuer, the caller's token, user id), asked of the issuer."""
DenialFn = Callable[[str, str], None]
"""Called with (issuer, target) for every denial (metrics)."""


class Acting(NamedTuple):
    """What a call to one cloud carries, and who it is for the audit log."""

    token: str | None
    caller: CallerIdentity | None
    """None when the proxy did not need to ask (the caller's own cloud, no token)."""
    identity: str
    """Who acts at the target, never a secret: a credential's name and id, or the caller's
    own token."""


OWN_TOKEN = "caller's own token"


class MappedIdentity:
    def __init__(
        self,
        book: RuleBook,
        registry: Registry,
        validations: ValidationCache,
        tokens: TargetTokens,
        check: CheckFn,
        on_denial: DenialFn,
        groups: GroupsFn | None = None,
    ) -> None:
        self.book = book
        self.registry = registry
        self.validations = validations
        self.tokens = tokens
        self._check = check
        self._on_denial = on_denial
        self._groups = groups
        self._inflight: dict[tuple[str, str], asyncio.Task[CallerIdentity]] = {}
        self._generation = 0
        """Bumped when a target refuses a mapped token: no kept decision carries it on."""

    async def acting(self, issuer: Cloud | None, target: Cloud, token: str | None) -> Acting:
        if token is None or issuer is None:
            # Without a token the cloud refuses (or the client is logging in).
            return Acting(token, None, OWN_TOKEN)
        # The hot path: a kept validation that already acted at this target, with the
        # rules, registry and target token it depended on unchanged (bench_identity).
        entry = self.validations.entry(issuer.name, token_key(token))
        if entry is not None:
            memo = entry.acting.get(target.name)
            if (
                memo is not None
                and memo[0] == self.book.version
                and memo[1] == self.registry.version
                and memo[2] == self._generation
                and memo[3] > time.monotonic()
            ):
                return memo[4]  # type: ignore[no-any-return]
        acting, until = await self._act(issuer, target, token)
        entry = self.validations.entry(issuer.name, token_key(token))
        if entry is not None:
            versions = (self.book.version, self.registry.version, self._generation)
            entry.remember(target.name, (*versions, until, acting))
        return acting

    async def _act(self, issuer: Cloud, target: Cloud, token: str) -> tuple[Acting, float]:
        caller = await self.caller(issuer, token)
        if caller.groups is None and self.book.uses_groups:
            # Validated before a rule needed groups: ask again, groups included.
            self.validations.forget(issuer.name, token_key(token))
            caller = await self.caller(issuer, token)
        if issuer.name == target.name:
            # Its own cloud judges the token: validated all the same, for the audit log and
            # so that a revoked token meets one answer everywhere.
            return Acting(token, caller, OWN_TOKEN), math.inf
        decision = self.book.decide(caller, issuer, target, self.registry.version)
        if isinstance(decision, Denial):
            self._on_denial(issuer.name, target.name)
            raise MappingDenied(decision)
        if decision.credential is None:
            return Acting(token, caller, decision.identity), math.inf
        mapped, until = await self.tokens.token(decision, target)
        return Acting(mapped, caller, decision.identity), until

    async def caller(self, issuer: Cloud, token: str) -> CallerIdentity:
        """The validated caller, from the cache or its issuer. Concurrent requests with one
        new token share one validation, run as a task of its own: a requester that goes
        away cancels only its own wait."""
        digest = token_key(token)
        known = self.validations.get(issuer.name, digest)
        if known is not None:
            return known
        key = (issuer.name, digest)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._validate(issuer, token, key))
            task.add_done_callback(_retrieved)
            self._inflight[key] = task  # also the reference that keeps the task alive
        return await asyncio.shield(task)

    async def _validate(self, issuer: Cloud, token: str, key: tuple[str, str]) -> CallerIdentity:
        try:
            caller, expires = await self._check(issuer, token)
            if caller.groups is None and self.book.uses_groups and self._groups is not None:
                groups = await self._groups(issuer, token, caller.user_id)
                caller = dataclasses.replace(caller, groups=groups)
            self.validations.put(issuer.name, key[1], caller, expires)
            return caller
        finally:
            del self._inflight[key]

    def forget(self, target: Cloud) -> None:
        """The target refused a mapped token: log in again next time."""
        self.tokens.forget(target)
        self._generation += 1


def _retrieved(task: asyncio.Task[CallerIdentity]) -> None:
    # Every requester may have gone: mark the outcome seen, or asyncio warns of it.
    if not task.cancelled():
        task.exception()


async def check_at_issuer(
    session: aiohttp.ClientSession, issuer: Cloud, token: str, tls: ssl.SSLContext | bool
) -> tuple[CallerIdentity, float]:
    """GET /v3/auth/tokens at the issuer: who the token's holder is, and until when."""
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    url = f"{issuer.auth_url}/auth/tokens"
    with map_upstream_errors(issuer.name):
        # No redirects: the caller's token goes to its issuer and nowhere else.
        async with session.get(url, headers=headers, allow_redirects=False, ssl=tls) as resp:
            if resp.status >= 500:
                raise UpstreamUnavailable(
                    f"the Keystone of cloud {issuer.name!r} failed ({resp.status})"
                )
            if resp.status != 200:
                raise Unauthorized(
                    f"The token was not accepted by its issuer {issuer.name!r} "
                    f"(status {resp.status}); authenticate again."
                )
            try:
                body = await resp.json(content_type=None)
                caller = caller_from_token(issuer.name, body)
                return caller, parse_expiry(body["token"].get("expires_at"))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise UpstreamUnavailable(
                    f"the Keystone of cloud {issuer.name!r} sent no token"
                ) from exc


async def groups_at_issuer(
    session: aiohttp.ClientSession,
    issuer: Cloud,
    token: str,
    user_id: str,
    tls: ssl.SSLContext | bool,
) -> frozenset[str]:
    """GET /v3/users/{id}/groups at the issuer with the caller's own token (Keystone lets a
    user list its own groups). No answer means no mapping: unknown groups would let a
    caller slip past a rule that denies a group."""
    url = f"{issuer.auth_url}/users/{quote(user_id, safe='')}/groups"
    with map_upstream_errors(issuer.name):
        async with session.get(
            url, headers={"X-Auth-Token": token}, allow_redirects=False, ssl=tls
        ) as resp:
            if resp.status >= 500:
                raise UpstreamUnavailable(
                    f"the Keystone of cloud {issuer.name!r} failed ({resp.status})"
                )
            if resp.status != 200:
                raise Forbidden(
                    f"cloud {issuer.name!r} did not tell the caller's groups (status "
                    f"{resp.status}), which the mapping rules need"
                )
            try:
                return group_ids(await resp.json(content_type=None))
            except ValueError as exc:
                raise UpstreamUnavailable(
                    f"the Keystone of cloud {issuer.name!r} sent no group list"
                ) from exc
