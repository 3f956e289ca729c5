"""Keep an in-memory Registry in step with a shared PostgresStore, through outages.

A PgFollower (registry/pg_follower.py) follows the store; what is the registry's own: the
clouds from other sources are left alone, and a snapshot on disk serves a proxy started
while the store does not answer.
"""

from __future__ import annotations

import asyncio
import logging
import time

from openstackoid.registry.errors import RegistryError, StoreUnavailableError
from openstackoid.registry.index import Registry
from openstackoid.registry.model import Cloud
from openstackoid.registry.pg_follower import Backoff, PgFollower
from openstackoid.registry.postgres import ChangeFeed, PostgresStore
from openstackoid.registry.snapshot import Snapshot, SnapshotFile, default_snapshot_path

log = logging.getLogger("openstackoid.registry")


class RegistrySync(PgFollower[PostgresStore]):
    """Follows `store` into `registry`; clouds from other sources (clouds.yaml, a registry
    file) are left alone unless the store has a cloud of the same name."""

    label = "registry"

    def __init__(
        self,
        registry: Registry,
        store: PostgresStore,
        snapshot: SnapshotFile | None = None,
        *,
        heartbeat: float = 5.0,
        backoff: Backoff | None = None,
        snapshot_interval: float = 10.0,
    ) -> None:
        super().__init__(store, heartbeat=heartbeat, backoff=backoff or Backoff())
        self.registry = registry
        self.snapshot = snapshot
        self.snapshot_interval = snapshot_interval
        """Least seconds between two snapshots written for single changes: writing 10,000
        clouds takes ~0.3 s of CPU, and a full reload always writes one."""
        self._unsaved = False
        self._saved_at = -snapshot_interval
        self.synced = asyncio.Event()
        """Set after each full load from the store, once applied and saved (for tests)."""
        self._clouds: dict[str, Cloud] = {}
        """The store's clouds as last heard: what the snapshot holds, what a reload diffs."""

    async def close(self) -> None:
        await super().close()
        if self._unsaved:  # the changes heard since the last snapshot
            await self._save_snapshot()

    async def _unavailable_at_start(self, exc: StoreUnavailableError) -> ChangeFeed | None:
        """`start()` returns once there is a registry to serve: the store's, else the
        snapshot's; with neither, it retries with backoff until the store answers (one log
        line says so)."""
        if self._serve_snapshot(exc):
            return None
        return await self._wait_for_store(exc)

    # -- the clouds ------------------------------------------------------------------------

    async def _listen(self) -> ChangeFeed:
        await self.store.ensure_table()
        return await self.store.listen(self._on_change, self._on_lost)

    async def _reload(self) -> None:
        self._replace(await self.store.load_all())

    async def _reloaded(self) -> None:
        await self._save_snapshot()
        self.synced.set()

    async def _refresh(self, keys: list[str]) -> None:
        found = await self.store.get_many(keys)
        for name in keys:
            cloud = found.get(name)
            if cloud is not None:
                self._clouds[name] = cloud
                self.registry.upsert(cloud)
            elif self._clouds.pop(name, None) is not None and name in self.registry:
                self.registry.remove(name)
            elif name in self.registry and name not in self._clouds:
                # A write through this proxy's admin API before its NOTIFY arrived.
                self.registry.remove(name)
        self._unsaved = True

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

    def _as_last_synced(self) -> str:
        return f"routing with the {len(self._clouds)} clouds as last synced"

    # -- the snapshot ----------------------------------------------------------------------

    def _flush_in(self) -> float | None:
        if not self._unsaved:
            return None
        return self._saved_at + self.snapshot_interval - time.monotonic()

    async def _flush(self) -> None:
        await self._save_snapshot()

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
