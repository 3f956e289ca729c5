"""Mapping rules and target credentials of a fleet in PostgreSQL, changes pushed by NOTIFY.

Tables of their own (`<prefix>_mapping_rules`, `<prefix>_target_credentials`) beside the
clouds table, and one channel `<prefix>_rule_changes`; every write notifies inside its
transaction, so listeners only hear committed changes.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import asyncpg

from registry.errors import RegistryError
from registry.mapping import RuleBook
from registry.rule_store import (
    RuleChangeCallback,
    RuleSet,
    credential_row,
    load_credential_row,
    load_rule_row,
    rule_row,
)
from registry.rules import MappingRule, TargetCredential

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,30}$")


class PostgresRuleStore:
    def __init__(self, dsn: str, prefix: str = "openstackoid") -> None:
        if not _IDENTIFIER.match(prefix):
            raise RegistryError(f"invalid table prefix {prefix!r}")
        self.dsn = dsn
        self.rules_table = f"{prefix}_mapping_rules"
        self.credentials_table = f"{prefix}_target_credentials"
        self.channel = f"{prefix}_rule_changes"
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None

    async def open(self) -> PostgresRuleStore:
        self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=2)
        async with self._pool.acquire() as conn:
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.rules_table} ("
                " id BIGSERIAL, name TEXT PRIMARY KEY, data JSONB NOT NULL)"
            )
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.credentials_table} ("
                " id BIGSERIAL, cloud TEXT NOT NULL, name TEXT NOT NULL,"
                " data JSONB NOT NULL, PRIMARY KEY (cloud, name))"
            )
        return self

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RegistryError("PostgresRuleStore is not open: call `await store.open()` first")
        return self._pool

    async def load(self) -> RuleSet:
        rules = await self.pool.fetch(f"SELECT data FROM {self.rules_table} ORDER BY id")
        creds = await self.pool.fetch(f"SELECT data FROM {self.credentials_table} ORDER BY id")
        return RuleSet(
            tuple(load_rule_row(row["data"], f"table {self.rules_table}") for row in rules),
            tuple(
                load_credential_row(row["data"], f"table {self.credentials_table}") for row in creds
            ),
        )

    async def get_rule(self, name: str) -> MappingRule | None:
        row = await self.pool.fetchrow(f"SELECT data FROM {self.rules_table} WHERE name = $1", name)
        return load_rule_row(row["data"], f"table {self.rules_table}") if row else None

    async def get_credential(self, cloud: str, name: str) -> TargetCredential | None:
        row = await self.pool.fetchrow(
            f"SELECT data FROM {self.credentials_table} WHERE cloud = $1 AND name = $2",
            cloud,
            name,
        )
        return load_credential_row(row["data"], f"table {self.credentials_table}") if row else None

    async def _write(self, sql: str, args: tuple[str, ...], payload: str) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            status: str = await conn.execute(sql, *args)
            changed = not status.endswith(" 0")
            if changed:
                await conn.execute("SELECT pg_notify($1, $2)", self.channel, payload)
        return changed

    async def upsert_rule(self, rule: MappingRule) -> None:
        await self._write(
            f"INSERT INTO {self.rules_table} (name, data) VALUES ($1, $2::jsonb) "
            "ON CONFLICT (name) DO UPDATE SET data = excluded.data",
            (rule.name, rule_row(rule)),
            f"rule upsert {rule.name}",
        )

    async def delete_rule(self, name: str) -> bool:
        return await self._write(
            f"DELETE FROM {self.rules_table} WHERE name = $1", (name,), f"rule delete {name}"
        )

    async def upsert_credential(self, credential: TargetCredential) -> None:
        await self._write(
            f"INSERT INTO {self.credentials_table} (cloud, name, data) VALUES ($1, $2, $3::jsonb) "
            "ON CONFLICT (cloud, name) DO UPDATE SET data = excluded.data",
            (credential.cloud, credential.name, credential_row(credential)),
            f"credential upsert {credential.cloud}/{credential.name}",
        )

    async def delete_credential(self, cloud: str, name: str) -> bool:
        return await self._write(
            f"DELETE FROM {self.credentials_table} WHERE cloud = $1 AND name = $2",
            (cloud, name),
            f"credential delete {cloud}/{name}",
        )

    async def watch(self, callback: RuleChangeCallback) -> None:
        """Call `callback(kind, operation, key)` for every committed change, from any process."""
        if self._listener is None:
            self._listener = await asyncpg.connect(self.dsn)

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            kind, operation, key = payload.split(" ", 2)
            callback(kind, operation, key)

        await self._listener.add_listener(self.channel, on_notify)

    async def drop(self) -> None:
        """Remove the tables (tests)."""
        await self.pool.execute(f"DROP TABLE IF EXISTS {self.rules_table}")
        await self.pool.execute(f"DROP TABLE IF EXISTS {self.credentials_table}")

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


class RuleSync:
    """Keeps a RuleBook in step with a PostgresRuleStore: load once, then reload each row a
    NOTIFY names (the payload carries no data: the row is the truth)."""

    def __init__(self, book: RuleBook, store: PostgresRuleStore) -> None:
        self.book = book
        self.store = store
        self._tasks: set[asyncio.Task[None]] = set()
        # Changes apply one at a time, in NOTIFY order (a fair lock): a slow read of an
        # older change must not land after a newer one.
        self._order = asyncio.Lock()
        self.applied = asyncio.Event()
        """Set after each applied change (tests observe propagation by it)."""

    async def start(self) -> None:
        loaded = await self.store.load()
        self.book.replace(loaded.rules, loaded.credentials)
        await self.store.watch(self._on_change)

    def _on_change(self, kind: str, operation: str, key: str) -> None:
        task = asyncio.get_running_loop().create_task(self._apply(kind, key))
        self._tasks.add(task)  # keep a reference until done (GC footgun)
        task.add_done_callback(self._tasks.discard)

    async def _apply(self, kind: str, key: str) -> None:
        async with self._order:
            await self._reload(kind, key)
        self.applied.set()

    async def _reload(self, kind: str, key: str) -> None:
        if kind == "rule":
            rule = await self.store.get_rule(key)
            if rule is None:
                self.book.remove_rule(key)
            else:
                self.book.upsert_rule(rule)
        elif kind == "credential":
            cloud, _, name = key.partition("/")
            credential = await self.store.get_credential(cloud, name)
            if credential is None:
                self.book.remove_credential(cloud, name)
            else:
                self.book.upsert_credential(credential)
