"""Follow tables of a fleet's PostgreSQL into a proxy's memory, through outages.

One task per copy (the clouds, the named scopes, the mapping rules): it LISTENs, loads in
full, then reads again each row a NOTIFY names and pings the connection when the feed is
quiet. Whatever ends the connection (a server restart, a cut link, an idle-session kill) it
reconnects with backoff and reloads in full, so the changes made meanwhile, deletions
included, are applied. Its health says how current the copy is.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypeVar

from openstackoid.registry.errors import StoreUnavailableError
from openstackoid.registry.health import ComponentHealth, State
from openstackoid.registry.postgres import ChangeFeed

log = logging.getLogger("openstackoid.registry")


@dataclass(frozen=True)
class Backoff:
    first: float = 0.25
    cap: float = 3.0
    """A restored link is used within `cap` seconds; failed attempts against a centre that
    is down cost it nothing, and the jitter spreads a fleet's reconnections."""

    def delays(self) -> Iterator[float]:
        """Doubling delays up to `cap`, each jittered down to half so that a fleet cut off
        together does not reconnect in lockstep."""
        delay = self.first
        while True:
            yield delay * random.uniform(0.5, 1.0)
            delay = min(self.cap, delay * 2)


class FollowedStore(Protocol):
    @property
    def where(self) -> str:
        """The store as told in logs and health reports: no password."""
        ...

    def drop_connections(self) -> None:
        """Abort the pooled connections: after a lost link they may be dead or stalled."""
        ...


S = TypeVar("S", bound=FollowedStore)


class PgFollower(ABC, Generic[S]):
    """Keeps a copy in step with `store`. A subclass says how to LISTEN, how to read every
    row into its copy and how to read some rows again; this class keeps the feed alive and
    the health current."""

    label: ClassVar[str]
    """What is followed, in logs and the task's name: "registry", "named scopes"..."""
    meanwhile: ClassVar[str] = "nothing is known of it until it answers"
    """What a proxy started while the store does not answer does without it."""

    def __init__(self, store: S, *, heartbeat: float, backoff: Backoff) -> None:
        self.store = store
        self.heartbeat = heartbeat
        """Seconds of a quiet feed before its connection is pinged (and the ping's bound)."""
        self.backoff = backoff
        self.applied = asyncio.Event()
        """Set after each applied change (lets tests observe propagation)."""
        self._dirty: dict[str, None] = {}
        """Keys NOTIFY'd and not yet applied, in order; bounded by the number of rows."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._health = ComponentHealth("waiting", time.time(), None, "not started")

    # -- what a subclass provides -----------------------------------------------------------

    @abstractmethod
    async def _listen(self) -> ChangeFeed:
        """Make sure the tables exist, then LISTEN with `_on_change` and `_on_lost`."""

    @abstractmethod
    async def _reload(self) -> None:
        """Read every row and make the copy match them."""

    @abstractmethod
    async def _refresh(self, keys: list[str]) -> None:
        """Read the rows of `keys` again: each is upserted into the copy, or removed."""

    @abstractmethod
    def _as_last_synced(self) -> str:
        """How the copy serves while the store is lost, e.g. "routing with the 3 clouds as
        last synced"."""

    async def _reloaded(self) -> None:
        """After each full load, once live."""

    def _flush_in(self) -> float | None:
        """Seconds until work deferred by the subclass is due; None: nothing deferred."""
        return None

    async def _flush(self) -> None:
        """Do the deferred work (once `_flush_in()` says it is due)."""

    # -- running -----------------------------------------------------------------------------

    def health(self) -> ComponentHealth:
        """The copy's state for /healthz and /metrics (a registry.health.HealthSource)."""
        return self._health

    async def start(self) -> None:
        """Load once before returning when the store answers; follow in the background."""
        try:
            feed: ChangeFeed | None = await self._connect()
        except StoreUnavailableError as exc:
            feed = await self._unavailable_at_start(exc)
        self._task = asyncio.get_running_loop().create_task(
            self._follow(feed), name=f"follow {self.label}"
        )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _unavailable_at_start(self, exc: StoreUnavailableError) -> ChangeFeed | None:
        """The store does not answer at start: say so, and serve without it meanwhile."""
        reason = f"{exc}; {self.meanwhile}"
        log.warning("%s: %s; retrying with backoff", self.label, reason)
        self._set("waiting", reason, None)
        return None

    # -- following ---------------------------------------------------------------------------

    async def _follow(self, feed: ChangeFeed | None) -> None:
        delays = self.backoff.delays()
        while True:
            try:
                if feed is None:
                    feed = await self._connect()
                    delays = self.backoff.delays()
                await self._watch(feed)
            except StoreUnavailableError as exc:
                self._lost(str(exc))
            except Exception as exc:  # a bug must not end the following for good
                log.exception("%s: following %s failed", self.label, self.store.where)
                self._lost(f"internal error: {exc!r}")
            finally:
                if feed is not None:
                    await feed.close()
                    feed = None
                # Pooled connections may be dead or stalled too: the next call reconnects.
                self.store.drop_connections()
            await asyncio.sleep(next(delays))

    async def _connect(self) -> ChangeFeed:
        """LISTEN, then load in full: a change committed after the load is NOTIFY'd, and one
        committed before it is in the load. Either way, nothing falls between the two."""
        self._dirty.clear()
        feed = await self._listen()
        try:
            await self._reload()
            self._live()
            await self._reloaded()
        except BaseException:
            await feed.close()
            raise
        return feed

    async def _watch(self, feed: ChangeFeed) -> None:
        """Apply changes as they come and ping a quiet feed; raise once it is lost."""
        while True:
            if feed.lost is not None:
                raise StoreUnavailableError(feed.lost)
            if self._dirty:
                # Taken before reading: a key NOTIFY'd again meanwhile is read once more.
                keys = list(self._dirty)
                self._dirty.clear()
                await self._refresh(keys)
                self._live()
                self.applied.set()
                continue
            flush_in = self._flush_in()
            if flush_in is not None and flush_in <= 0:
                await self._flush()
                continue
            self._wake.clear()
            wait = self.heartbeat if flush_in is None else min(self.heartbeat, flush_in)
            try:
                # Not asyncio.wait_for: on Python 3.11 it returns, rather than raise, when
                # cancelled as the wait ends, and close() would wait for this task forever.
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                if wait == self.heartbeat:
                    await feed.ping(self.heartbeat)
                    self._live()

    def _on_change(self, _operation: str, key: str) -> None:
        # The row is read again rather than trusting the operation: changes to one key
        # applied out of order would otherwise resurrect a deleted row.
        self._dirty[key] = None
        self._wake.set()

    def _on_lost(self) -> None:
        self._wake.set()

    # -- health ------------------------------------------------------------------------------

    def _set(self, state: State, reason: str | None, last_sync: float | None) -> None:
        since = self._health.since if state == self._health.state else time.time()
        self._health = ComponentHealth(state, since, last_sync, reason)

    def _live(self) -> None:
        """In step with the store: after a full load, an applied change, an answered ping."""
        was = self._health
        self._set("live", None, time.time())
        if was.state in ("stale", "snapshot"):
            where, summary = self.store.where, was.summary()
            log.warning("%s: %s answers again; live (was %s)", self.label, where, summary)
        elif was.state == "waiting":
            log.info("%s: in step with %s", self.label, self.store.where)

    def _lost(self, reason: str) -> None:
        if self._health.state == "live":
            stale = f"{reason}; {self._as_last_synced()}"
            log.warning("%s: %s, reconnecting", self.label, stale)
            self._set("stale", stale, self._health.last_sync)
        else:
            log.debug("%s: still unreachable: %s", self.label, reason)
