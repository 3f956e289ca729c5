"""Named scopes of a fleet in PostgreSQL, followed by every proxy like the clouds.

Table `<clouds table>_named_scopes` (default `openstackoid_clouds_named_scopes`) with the
clouds table's shape, so the connection handling, LISTEN/NOTIFY and outage rules of
PostgresStore serve it unchanged. NamedScopeSync keeps a proxy's NamedScopes in step: it
LISTENs, loads in full, applies each NOTIFY'd name by reading its row again, pings a quiet
feed, and after any loss reconnects with backoff and reloads in full.
"""

from __future__ import annotations

import asyncio
import logging
import time

from openstackoid.registry.errors import StoreUnavailableError
from openstackoid.registry.health import ComponentHealth
from openstackoid.registry.named_scope_store import scope_row, scopes_of
from openstackoid.registry.named_scopes import NamedScope, NamedScopes
from openstackoid.registry.postgres import ChangeFeed, PostgresStore
from openstackoid.registry.sync import Backoff

log = logging.getLogger("openstackoid.registry")


class PostgresNamedScopeStore:
    def __init__(
        self, dsn: str, clouds_table: str = "openstackoid_clouds", timeout: float = 10.0
    ) -> None:
        self.tables = PostgresStore(dsn, table=f"{clouds_table}_named_scopes", timeout=timeout)

    @property
    def where(self) -> str:
        return self.tables.where

    async def open(self) -> PostgresNamedScopeStore:
        await self.tables.ensure_table()
        return self

    async def load_scopes(self) -> list[NamedScope]:
        async with self.tables._connection() as conn:
            rows = await conn.fetch(f"SELECT name, data FROM {self.tables.table} ORDER BY id")
        return scopes_of((row["name"], row["data"]) for row in rows)

    async def get_scopes(self, names: list[str]) -> dict[str, NamedScope]:
        async with self.tables._connection() as conn:
            rows = await conn.fetch(
                f"SELECT name, data FROM {self.tables.table} WHERE name = ANY($1::text[])", names
            )
        return {s.name: s for s in scopes_of((row["name"], row["data"]) for row in rows)}

    async def upsert_scope(self, scope: NamedScope) -> None:
        table, channel = self.tables.table, self.tables.channel
        async with self.tables._connection() as conn, conn.transaction():
            await conn.execute(
                f"INSERT INTO {table} (name, data) VALUES ($1, $2::jsonb) "
                "ON CONFLICT (name) DO UPDATE SET data = excluded.data",
                scope.name,
                scope_row(scope),
            )
            await conn.execute("SELECT pg_notify($1, $2)", channel, f"upsert {scope.name}")

    async def delete_scope(self, name: str) -> bool:
        return await self.tables.delete(name)

    async def drop(self) -> None:
        await self.tables.drop()

    async def close(self) -> None:
        await self.tables.close()


class NamedScopeSync:
    """Follows `store` into `scopes`. A proxy started while the store does not answer
    serves at once: until it answers, a named scope in a URL is refused as unknown (a 400
    naming it), never routed elsewhere."""

    def __init__(
        self,
        scopes: NamedScopes,
        store: PostgresNamedScopeStore,
        *,
        heartbeat: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.scopes = scopes
        self.store = store
        self.heartbeat = heartbeat
        self.backoff = backoff or Backoff()
        self.applied = asyncio.Event()
        """Set after each applied change or full load (lets tests observe propagation)."""
        self._dirty: dict[str, None] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._health = ComponentHealth("waiting", time.time(), None, "not started")

    def health(self) -> ComponentHealth:
        return self._health

    async def start(self) -> None:
        """Load once before serving, so a proxy whose store answers knows every named scope
        from its first request; if the store does not answer, follow it in the background."""
        feed: ChangeFeed | None
        try:
            feed = await self._connect()
        except StoreUnavailableError as exc:
            self._lost(str(exc))
            feed = None
        self._task = asyncio.get_running_loop().create_task(self._follow(feed), name="scope-sync")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

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
                log.exception("registry: following named scopes in %s failed", self.store.where)
                self._lost(f"internal error: {exc!r}")
            finally:
                if feed is not None:
                    await feed.close()
                    feed = None
                self.store.tables.drop_connections()
            await asyncio.sleep(next(delays))

    async def _connect(self) -> ChangeFeed:
        """LISTEN, then load in full: nothing committed falls between the two."""
        self._dirty.clear()
        await self.store.tables.ensure_table()
        feed = await self.store.tables.listen(self._on_change, self._wake.set)
        try:
            self.scopes.replace_all(await self.store.load_scopes())
        except BaseException:
            await feed.close()
            raise
        self._live()
        self.applied.set()
        return feed

    async def _watch(self, feed: ChangeFeed) -> None:
        while True:
            if feed.lost is not None:
                raise StoreUnavailableError(feed.lost)
            if self._dirty:
                names = list(self._dirty)
                found = await self.store.get_scopes(names)
                for name in names:
                    self._dirty.pop(name, None)
                    if name in found:
                        self.scopes.upsert(found[name])
                    else:
                        self.scopes.remove(name)
                self._live()
                self.applied.set()
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.heartbeat)
            except TimeoutError:
                await feed.ping(self.heartbeat)
                self._live()

    def _on_change(self, _operation: str, name: str) -> None:
        self._dirty[name] = None  # the row is read again: out-of-order changes cannot win
        self._wake.set()

    def _live(self) -> None:
        if self._health.state != "live":
            log.info("registry: named scopes in step with %s", self.store.where)
        self._health = ComponentHealth("live", self._since("live"), time.time())

    def _lost(self, reason: str) -> None:
        if self._health.state == "live":
            log.warning("registry: %s; named scopes as last synced, reconnecting", reason)
            self._health = ComponentHealth(
                "stale",
                time.time(),
                self._health.last_sync,
                f"{reason}; named scopes as last synced",
            )
        elif self._health.state == "waiting" and self._health.reason == "not started":
            log.warning("registry: %s; no named scope known until it answers", reason)
            self._health = ComponentHealth("waiting", time.time(), None, reason)

    def _since(self, state: str) -> float:
        return self._health.since if self._health.state == state else time.time()
