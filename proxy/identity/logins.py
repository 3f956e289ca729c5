"""One Keystone login per cloud, kept until shortly before it expires: the service token
and the endpoint catalog of a cloud come from the same login."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiohttp
from cachetools import TLRUCache

from openstackoid.proxy.identity.tokens import parse_expiry
from openstackoid.registry import Cloud
from openstackoid.registry.errors import LoginFailed
from openstackoid.registry.keystone import Login, login

MARGIN = 60.0
"""Seconds before expiry at which a kept login counts as expired."""


def _until(_key: str, value: tuple[Login, float], _now: float) -> float:
    return value[1]


class Logins:
    def __init__(self, session: aiohttp.ClientSession, max_clouds: int = 100_000) -> None:
        self.session = session
        self.max_clouds = max_clouds
        self._kept: TLRUCache[str, tuple[Login, float]] = TLRUCache(max_clouds, _until)
        self._locks: dict[str, asyncio.Lock] = {}

    def kept(self, cloud: Cloud) -> Login | None:
        """The cloud's login if one is kept: nearly every call, and no coroutine for it."""
        kept = self._kept.get(cloud.name)
        return kept[0] if kept is not None else None

    async def of(self, cloud: Cloud) -> Login:
        """The cloud's login; raises registry.errors' login errors or aiohttp's."""
        kept = self._kept.get(cloud.name)
        if kept is not None:
            return kept[0]
        # One login per cloud at a time: a burst of requests shares it.
        if len(self._locks) >= self.max_clouds:
            self._locks.clear()  # bounded; at worst two logins to a cloud race once
        async with self._locks.setdefault(cloud.name, asyncio.Lock()):
            kept = self._kept.get(cloud.name)
            if kept is not None:
                return kept[0]
            fresh = await login(self.session, cloud)
            try:
                deadline = parse_expiry(fresh.expires_at) - MARGIN
            except ValueError as exc:
                raise LoginFailed(f"cloud {cloud.name!r} sent a malformed expiry") from exc
            self._kept[cloud.name] = (fresh, deadline)
            return fresh

    async def catalog(
        self, _session: aiohttp.ClientSession, cloud: Cloud
    ) -> Sequence[dict[str, Any]]:
        """openstackoid.registry.discovery's CatalogSource."""
        return (await self.of(cloud)).catalog

    def forget(self, cloud: Cloud) -> None:
        """The cloud refused the token of its login: the next call logs in again."""
        self._kept.pop(cloud.name, None)
