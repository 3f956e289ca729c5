"""Named scopes of a fleet in PostgreSQL, followed by every proxy like the clouds.

Table `<clouds table>_named_scopes` (default `openstackoid_clouds_named_scopes`) with the
clouds table's shape, so the connection handling, LISTEN/NOTIFY and outage rules of
PostgresStore serve it unchanged. NamedScopeSync keeps a proxy's NamedScopes in step
(a PgFollower, registry/pg_follower.py).
"""

from __future__ import annotations

from openstackoid.registry.named_scope_store import scope_row, scopes_of
from openstackoid.registry.named_scopes import NamedScope, NamedScopes
from openstackoid.registry.pg_follower import Backoff, PgFollower
from openstackoid.registry.postgres import ChangeFeed, PostgresStore


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

    def drop_connections(self) -> None:
        self.tables.drop_connections()

    async def drop(self) -> None:
        await self.tables.drop()

    async def close(self) -> None:
        await self.tables.close()


class NamedScopeSync(PgFollower[PostgresNamedScopeStore]):
    """Follows `store` into `scopes`. A proxy started while the store does not answer
    serves at once: until it answers, a named scope in a URL is refused as unknown (a 400
    naming it), never routed elsewhere."""

    label = "named scopes"
    meanwhile = "no named scope known until it answers"

    def __init__(
        self,
        scopes: NamedScopes,
        store: PostgresNamedScopeStore,
        *,
        heartbeat: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(store, heartbeat=heartbeat, backoff=backoff or Backoff())
        self.scopes = scopes

    async def _listen(self) -> ChangeFeed:
        await self.store.tables.ensure_table()
        return await self.store.tables.listen(self._on_change, self._on_lost)

    async def _reload(self) -> None:
        self.scopes.replace_all(await self.store.load_scopes())

    async def _reloaded(self) -> None:
        self.applied.set()  # a full load is a change too: tests wait for it after a loss

    async def _refresh(self, keys: list[str]) -> None:
        found = await self.store.get_scopes(keys)
        for name in keys:
            if name in found:
                self.scopes.upsert(found[name])
            else:
                self.scopes.remove(name)

    def _as_last_synced(self) -> str:
        return f"serving the {len(self.scopes)} named scopes as last synced"
