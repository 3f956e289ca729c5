"""Slots to one cloud: at most `limit` requests in flight, at most half of them for one
caller, and a bounded wait for one.

66 uploads sending a byte every 5 s held all 64 of a cloud's slots, and a GET to that
cloud waited 40 s for nothing (issue 15): now one caller (one token) cannot hold more than
its share, and nobody waits longer than `wait` seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable


class SlotTimeout(Exception):
    """No slot came free in time; the message says whose limit it was."""


class _Share:
    __slots__ = ("semaphore", "users")

    def __init__(self, size: int) -> None:
        self.semaphore = asyncio.Semaphore(size)
        self.users = 0
        """Holders and waiters: the share is dropped when none is left."""


class Ticket:
    """A slot held; release() exactly once."""

    __slots__ = ("_slots", "_key", "_share", "_caller")

    def __init__(self, slots: Slots, key: Hashable, share: _Share, caller: Hashable) -> None:
        self._slots = slots
        self._key = key
        self._share = share
        self._caller = caller

    def release(self) -> None:
        self._slots._cloud(self._key).release()
        self._share.semaphore.release()
        self._slots._leave(self._key, self._caller, self._share)


class Slots:
    def __init__(self, limit: int, wait: float) -> None:
        self.limit = limit
        self.share = max(1, limit // 2)
        self.wait = wait
        self._clouds: dict[Hashable, asyncio.Semaphore] = {}
        self._shares: dict[tuple[Hashable, Hashable], _Share] = {}

    def _cloud(self, key: Hashable) -> asyncio.Semaphore:
        slot = self._clouds.get(key)
        if slot is None:
            slot = self._clouds[key] = asyncio.Semaphore(self.limit)
        return slot

    async def take(self, key: Hashable, caller: Hashable) -> Ticket:
        """A slot to the cloud at `key` for `caller` (its token). Requests without one
        (version documents, the proxy's own) have no share of their own: they are bounded by
        the cloud's limit, the wait and client_stall_timeout only."""
        cloud = self._cloud(key)
        share = self._shares.get((key, caller))
        if share is None:
            size = self.share if caller is not None else self.limit
            share = self._shares[(key, caller)] = _Share(size)
        share.users += 1
        try:
            if share.semaphore.locked() or cloud.locked():
                await self._wait(cloud, share)
            else:  # the usual case: no timer to arm
                await share.semaphore.acquire()
                await cloud.acquire()
        except BaseException:
            self._leave(key, caller, share)
            raise
        return Ticket(self, key, share, caller)

    async def _wait(self, cloud: asyncio.Semaphore, share: _Share) -> None:
        try:
            async with asyncio.timeout(self.wait):
                await share.semaphore.acquire()
        except TimeoutError:
            raise SlotTimeout(
                f"this caller already has {self.share} requests in flight to it, its share "
                f"(half of limit_per_host) for {self.wait:g} s"
            ) from None
        try:
            async with asyncio.timeout(self.wait):
                await cloud.acquire()
        except BaseException as exc:
            share.semaphore.release()
            if isinstance(exc, TimeoutError):
                raise SlotTimeout(
                    f"all its {self.limit} connections (limit_per_host) stayed in use "
                    f"for {self.wait:g} s"
                ) from None
            raise

    def _leave(self, key: Hashable, caller: Hashable, share: _Share) -> None:
        share.users -= 1
        if share.users == 0:
            del self._shares[(key, caller)]
