"""Keep an in-memory Registry in step with a shared PostgresStore, through outages.

One task follows the store: it opens a LISTEN connection, loads every cloud, then applies
each NOTIFY'd change and pings the connection when the feed is quiet. Whatever ends the
connection (a server restart, a cut link, an idle-session kill) it reconnects with backoff
and reloads in full, so the changes made meanwhile, deletions included, are applied.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from openstackoid.registry.errors import RegistryError, StoreUnavailableError
from openstackoid.registry.health import ComponentHealth, State
from openstackoid.registry.index import Registry
from openstackoid.registry.model import Cloud
from openstackoid.registry.postgres import ChangeFeed, PostgresStore
from openstackoid.registry.snapshot import Snapshot, SnapshotFile, default_snapshot_path

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


class RegistrySync:
    """Follows `store` into `registry`; clouds from other sources (clouds.yaml, a registry
    file) are left alone unless the store has a cloud of the same name."""

    def __init__(
        self,
        registry: Registry,
        store: PostgresStore,
        snapshot: SnapshotFile | None = None,
        *,
        heartbeat: float = 5.0,
        backoff: Backoff = Backoff(),
        snapshot_interval: float = 10.0,
    ) -> None:
        self.registry = registry
        self.store = store
        self.snapshot = snapshot
        self.heartbeat = heartbeat
        """Seconds of a quiet feed before its connection is pinged (and the ping's bound)."""
        self.backoff = backoff
        self.snapshot_interval = snapshot_interval
        """Least seconds between two snapshots written for single changes: writing 10,000
        clouds takes ~0.3 s of CPU, and a full reload always writes one."""
        self._unsaved = False
        self._saved_at = -snapshot_interval
        self.applied = asyncio.Event()
        """Set after each applied change (lets tests observe propagation)."""
        self.synced = asyncio.Event()
        """Set after each full load from the store, once applied and saved (for tests)."""
        self._clouds: dict[str, Cloud] = {}
        """The store's clouds as last heard: what the snapshot holds, what a reload diffs."""
        self._dirty: dict[str, None] = {}
        """Names NOTIFY'd and not yet applied, in order; bounded by the number of clouds."""
        self._wake = asyncio.Event()
        self._follower: asyncio.Task[None] | None = None
        self._health = ComponentHealth("waiting", time.time(), None, "not started")

    def health(self) -> ComponentHealth:
        """The registry's state for /healthz and /metrics (a registry.health.HealthSource)."""
        return self._health

    async def start(self) -> None:
        """Return once there is a registry to serve: the store's, else the snapshot's; with
        neither, retry with backoff until the store answers (one log line says so)."""
        try:
            feed = await self._connect()
        except StoreUnavailableError as exc:
            if self._serve_snapshot(exc):
                feed = None
            else:
                feed = await self._wait_for_store(exc)
        self._follower = asyncio.get_running_loop().create_task(
            self._follow(feed), name="registry-sync"
        )

    async def close(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            try:
                await self._follower
            except asyncio.CancelledError:
                pass
            self._follower = None
        if self._unsaved:  # the changes heard since the last snapshot
            await self._save_snapshot()

    # -- following -------------------------------------------------------------------------

    async def _follow(self, feed: ChangeFeed | None) -> None:
        delays = self.backoff.delays()
        while True:
            try:
                if feed is None:
                    feed = await self._connect()
                    delays = self.backoff.delays()
                await self._watch(feed)
            except StoreUnavailableError as exc:
                self._lost(exc)
            except Exception as exc:  # a bug must not end the following for good
                log.exception("registry: following %s failed", self.store.where)
                self._lost(StoreUnavailableError(f"internal error: {exc!r}"))
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
        await self.store.ensure_table()
        feed = await self.store.listen(self._on_change, self._wake.set)
        try:
            self._replace(await self.store.load_all())
            self._went_live()
            await self._save_snapshot()
            self.synced.set()
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
                await self._apply_dirty()
                continue
            save_in = self._saved_at + self.snapshot_interval - time.monotonic()
            if self._unsaved and save_in <= 0:
                await self._save_snapshot()
                continue
            self._wake.clear()
            wait = min(self.heartbeat, save_in) if self._unsaved else self.heartbeat
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                if wait == self.heartbeat:
                    await feed.ping(self.heartbeat)
                    self._synced_now()

    def _on_change(self, _operation: str, name: str) -> None:
        # The row is read again rather than trusting the operation: changes to one name
        # applied out of order would otherwise resurrect a deleted cloud.
        self._dirty[name] = None
        self._wake.set()

    async def _apply_dirty(self) -> None:
        names = list(self._dirty)
        found = await self.store.get_many(names)
        for name in names:
            self._dirty.pop(name, None)
            cloud = found.get(name)
            if cloud is not None:
                self._clouds[name] = cloud
                self.registry.upsert(cloud)
            elif self._clouds.pop(name, None) is not None and name in self.registry:
                self.registry.remove(name)
            elif name in self.registry and name not in self._clouds:
                # A write through this proxy's admin API before its NOTIFY arrived.
                self.registry.remove(name)
        self._synced_now()
        self._unsaved = True
        self.applied.set()

    def _replace(self, clouds: list[Cloud]) -> None:
        fresh = {cloud.name: cloud for cloud in clouds}
        gone = [name for name in self._clouds if name not in fresh]
        for name in gone:
            if name in self.registry:
                self.registry.remove(name)
        changed = 0
        for name, cloud in fresh.items():
            if self._clouds.get(name) != cloud or name not in self.registry:
                self.registry.upsert(cloud)
                changed += 1
        if self._health.state != "waiting" or gone:
            log.info(
                "registry: reloaded %d clouds from %s (%d new or changed, %d removed)",
                len(fresh),
                self.store.where,
                changed,
                len(gone),
            )
        self._clouds = fresh

    # -- state -----------------------------------------------------------------------------

    def _set(self, state: State, reason: str | None, last_sync: float | None) -> None:
        since = self._health.since if state == self._health.state else time.time()
        self._health = ComponentHealth(state, since, last_sync, reason)

    def _went_live(self) -> None:
        if self._health.state in ("stale", "snapshot"):
            log.warning(
                "registry: %s answers again; live (was %s)",
                self.store.where,
                self._health.summary(),
            )
        self._set("live", None, time.time())

    def _synced_now(self) -> None:
        self._set("live", None, time.time())

    def _lost(self, exc: StoreUnavailableError) -> None:
        if self._health.state == "live":
            log.warning(
                "registry: %s; serving %d clouds as last synced, reconnecting",
                exc,
                len(self._clouds),
            )
            self._set(
                "stale", f"{exc}; routing with the clouds as last synced", self._health.last_sync
            )
        else:
            log.debug("registry: still unreachable: %s", exc)

    def _serve_snapshot(self, exc: StoreUnavailableError) -> bool:
        if self.snapshot is None:
            return False
        try:
            snapshot = self.snapshot.read()
        except RegistryError as bad:
            log.warning("registry: %s; not serving it", bad)
            return False
        if snapshot is None:
            return False
        self._load_snapshot(snapshot)
        reason = (
            f"{exc}; serving {len(snapshot.clouds)} clouds from the snapshot "
            f"{self.snapshot.path} taken {_iso(snapshot.written_at)}"
        )
        log.warning("registry: SERVING A SNAPSHOT: %s; retrying the store with backoff", reason)
        self._set("snapshot", reason, snapshot.written_at)
        return True

    def _load_snapshot(self, snapshot: Snapshot) -> None:
        self._clouds = {cloud.name: cloud for cloud in snapshot.clouds}
        for cloud in snapshot.clouds:
            self.registry.upsert(cloud)

    async def _wait_for_store(self, exc: StoreUnavailableError) -> ChangeFeed:
        where = f"no snapshot at {self.snapshot.path}" if self.snapshot else "no snapshot kept"
        log.warning(
            "registry: waiting for the store before serving: %s; %s; retrying every %g s at most",
            exc,
            where,
            self.backoff.cap,
        )
        self._set("waiting", f"{exc}; {where}", None)
        for delay in self.backoff.delays():
            await asyncio.sleep(delay)
            try:
                return await self._connect()
            except StoreUnavailableError as again:
                log.debug("registry: still unreachable: %s", again)
        raise AssertionError("Backoff.delays() never ends")

    async def _save_snapshot(self) -> None:
        self._unsaved = False
        self._saved_at = time.monotonic()
        if self.snapshot is None:
            return
        clouds = tuple(self._clouds.values())
        try:
            await asyncio.to_thread(self.snapshot.write, clouds)
        except OSError as exc:  # a full disk must not stop the proxy following its store
            log.warning("registry: cannot write the snapshot %s: %s", self.snapshot.path, exc)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def snapshot_for(store: PostgresStore, path: str | None) -> SnapshotFile:
    """The snapshot file of `store`: at `path`, else at the default place for that store."""
    return SnapshotFile(path or default_snapshot_path(store.where), store.where)
