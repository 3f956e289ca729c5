"""A registry shared by a fleet of proxies in PostgreSQL, changes pushed by LISTEN/NOTIFY."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import asyncpg

from registry.errors import RegistryError
from registry.model import Cloud
from registry.store import ChangeCallback

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


class PostgresStore:
    """Clouds in one table; every write notifies channel `<table>_changes` in its transaction,
    so listeners only hear committed changes."""

    def __init__(self, dsn: str, table: str = "openstackoid_clouds") -> None:
        if not _IDENTIFIER.match(table):
            raise RegistryError(f"invalid table name {table!r}")
        self.dsn = dsn
        self.table = table
        self.channel = f"{table}_changes"
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None

    async def open(self) -> PostgresStore:
        self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4)
        async with self._pool.acquire() as conn:
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                " id BIGSERIAL, name TEXT PRIMARY KEY, data JSONB NOT NULL)"
            )
        return self

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RegistryError("PostgresStore is not open: call `await store.open()` first")
        return self._pool

    async def load_all(self) -> list[Cloud]:
        rows = await self.pool.fetch(f"SELECT data FROM {self.table} ORDER BY id")
        return [Cloud.from_dict(json.loads(row["data"])) for row in rows]

    async def get(self, name: str) -> Cloud | None:
        row = await self.pool.fetchrow(f"SELECT data FROM {self.table} WHERE name = $1", name)
        return Cloud.from_dict(json.loads(row["data"])) if row else None

    async def upsert(self, cloud: Cloud) -> None:
        await self.upsert_many((cloud,))

    async def upsert_many(self, clouds: Iterable[Cloud]) -> int:
        rows = [(c.name, json.dumps(c.to_dict(with_secrets=True))) for c in clouds]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(
                f"INSERT INTO {self.table} (name, data) VALUES ($1, $2::jsonb) "
                "ON CONFLICT (name) DO UPDATE SET data = excluded.data",
                rows,
            )
            # NOTIFY payloads are limited to 8 kB: notify per cloud, names are short.
            for name, _ in rows:
                await conn.execute("SELECT pg_notify($1, $2)", self.channel, f"upsert {name}")
        return len(rows)

    async def delete(self, name: str) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(f"DELETE FROM {self.table} WHERE name = $1", name)
            deleted: bool = status == "DELETE 1"
            if deleted:
                await conn.execute("SELECT pg_notify($1, $2)", self.channel, f"delete {name}")
        return deleted

    async def watch(self, callback: ChangeCallback) -> None:
        """Call `callback(operation, name)` for every committed change, from any process."""
        if self._listener is None:
            self._listener = await asyncpg.connect(self.dsn)

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            operation, _, name = payload.partition(" ")
            callback(operation, name)

        await self._listener.add_listener(self.channel, on_notify)

    async def drop(self) -> None:
        """Remove the table (tests)."""
        await self.pool.execute(f"DROP TABLE IF EXISTS {self.table}")

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
