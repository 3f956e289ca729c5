"""Endpoints of clouds that declare none, read from their Keystone catalog.

Cached with a TTL (cachetools); when a cloud cannot be reached the last known endpoints
are served stale rather than failing every request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiohttp
from cachetools import TTLCache

from openstackoid.registry.errors import LoginFailed, LoginRefused, NoCredentials, RegistryError
from openstackoid.registry.keystone import login
from openstackoid.registry.model import Cloud

CatalogSource = Callable[[aiohttp.ClientSession, Cloud], Awaitable[Sequence[dict[str, Any]]]]
"""A cloud's Keystone catalog: by default from a fresh login; the proxy hands in its cached
login, so a cloud sees one login for its service token and its endpoints."""


async def _fresh_catalog(session: aiohttp.ClientSession, cloud: Cloud) -> Sequence[dict[str, Any]]:
    return (await login(session, cloud)).catalog


class DiscoveryError(RegistryError):
    """A cloud's endpoints could not be discovered and none were known before."""


def endpoints_from_catalog(
    catalog: Sequence[dict[str, Any]], region: str | None, interface: str
) -> dict[str, str]:
    found: dict[str, str] = {}
    for service in catalog:
        for endpoint in service.get("endpoints") or []:
            if endpoint.get("interface") != interface:
                continue
            if region and (endpoint.get("region_id") or endpoint.get("region")) != region:
                continue
            found.setdefault(str(service.get("type")), str(endpoint.get("url")))
    return found


class EndpointCatalog:
    def __init__(
        self,
        ttl: float = 300.0,
        maxsize: int = 100_000,
        catalog_of: CatalogSource = _fresh_catalog,
    ) -> None:
        self._catalog_of = catalog_of
        self._fresh: TTLCache[str, Mapping[str, str]] = TTLCache(maxsize, ttl)
        self._last_known: dict[str, Mapping[str, str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def endpoints(self, session: aiohttp.ClientSession, cloud: Cloud) -> Mapping[str, str]:
        if cloud.endpoints:
            return cloud.endpoints
        fresh = self._fresh.get(cloud.name)
        if fresh is not None:
            return fresh
        # One discovery per cloud at a time: a burst of requests shares it.
        async with self._locks.setdefault(cloud.name, asyncio.Lock()):
            fresh = self._fresh.get(cloud.name)
            if fresh is not None:
                return fresh
            try:
                found = await self._discover(session, cloud)
            except (aiohttp.ClientError, TimeoutError, OSError, RegistryError) as exc:
                stale = self._last_known.get(cloud.name)
                if stale is not None:
                    return stale
                raise DiscoveryError(
                    f"cannot discover the endpoints of cloud {cloud.name!r}: {exc}"
                ) from exc
            self._fresh[cloud.name] = found
            self._last_known[cloud.name] = found
            return found

    async def _discover(self, session: aiohttp.ClientSession, cloud: Cloud) -> Mapping[str, str]:
        try:
            catalog = await self._catalog_of(session, cloud)
        except NoCredentials as exc:
            raise DiscoveryError("it declares no endpoints and has no credentials") from exc
        except LoginRefused as exc:
            raise DiscoveryError(f"its Keystone answered {exc.status}") from exc
        except LoginFailed as exc:
            raise DiscoveryError(str(exc)) from exc
        found = endpoints_from_catalog(catalog, cloud.region_name, cloud.interface)
        if not found:
            raise DiscoveryError("its catalog lists no endpoint for its region and interface")
        return found
