"""Mapping rules and target credentials of a fleet in PostgreSQL, changes pushed by NOTIFY.

Tables of their own (`<prefix>_mapping_rules`, `<prefix>_target_credentials`) beside the
clouds table, and one channel `<prefix>_rule_changes`; every write notifies inside its
transaction, so listeners only hear committed changes.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

import asyncpg

from openstackoid.registry.errors import RegistryError
from openstackoid.registry.mapping import RuleBook
from openstackoid.registry.rule_store import (
    RuleChangeCallback,
    RuleSet,
    credential_row,
    load_credential_row,
    load_rule_row,
    rule_row,
)
from openstackoid.registry.rules import MappingRule, TargetCredential
from openstackoid.registry.sync import Backoff

log = logging.getLogger("openstackoid.registry")
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
        self._listener_busy = asyncio.Lock()
        """One operation at a time on the LISTEN connection (asyncpg's rule)."""

    async def open(self) -> PostgresRuleStore:
        if self._pool is not None:
            return self
        # No idle pooled connection: a proxy reads through its LISTEN connection; the pool
        # serves the admin API's rare writes and lets go of them when idle.
        self._pool = await asyncpg.create_pool(
            self.dsn, min_size=0, max_size=2, max_inactive_connection_lifetime=10.0
        )
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

    async def _fetch(self, query: str, *args: str) -> list[Any]:
        """Reads go through the LISTEN connection when there is one (a following proxy
        holds one connection, not two), else through the pool."""
        if self._listener is not None:
            async with self._listener_busy:
                rows: list[Any] = await self._listener.fetch(query, *args)
                return rows
        return list(await self.pool.fetch(query, *args))

    async def load(self) -> RuleSet:
        rules = await self._fetch(f"SELECT data FROM {self.rules_table} ORDER BY id")
        creds = await self._fetch(f"SELECT data FROM {self.credentials_table} ORDER BY id")
        return RuleSet(
            tuple(load_rule_row(row["data"], f"table {self.rules_table}") for row in rules),
            tuple(
                load_credential_row(row["data"], f"table {self.credentials_table}") for row in creds
            ),
        )

    async def get_rule(self, name: str) -> MappingRule | None:
        rows = await self._fetch(f"SELECT data FROM {self.rules_table} WHERE name = $1", name)
        return load_rule_row(rows[0]["data"], f"table {self.rules_table}") if rows else None

    async def get_credential(self, cloud: str, name: str) -> TargetCredential | None:
        rows = await self._fetch(
            f"SELECT data FROM {self.credentials_table} WHERE cloud = $1 AND name = $2",
            cloud,
            name,
        )
        table = f"table {self.credentials_table}"
        return load_credential_row(rows[0]["data"], table) if rows else None

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

    async def watch(
        self, callback: RuleChangeCallback, on_lost: Callable[[], None] | None = None
    ) -> None:
        """Call `callback(kind, operation, key)` for every committed change, from any process;
        `on_lost()` when the listening connection ends."""
        if self._listener is None:
            self._listener = await asyncpg.connect(self.dsn)
            if on_lost is not None:
                self._listener.add_termination_listener(lambda _conn: on_lost())

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            kind, operation, key = payload.split(" ", 2)
            callback(kind, operation, key)

        await self._listener.add_listener(self.channel, on_notify)

    async def ping(self) -> None:
        """A round trip on the listening connection: a cut link shows here."""
        if self._listener is None:
            raise RegistryError("not listening")
        async with self._listener_busy:
            await self._listener.execute("SELECT 1")

    async def drop(self) -> None:
        """Remove the tables (tests)."""
        await self.pool.execute(f"DROP TABLE IF EXISTS {self.rules_table}")
        await self.pool.execute(f"DROP TABLE IF EXISTS {self.credentials_table}")

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        pool, self._pool = self._pool, None
        if listener is not None:
            listener.terminate()  # no goodbye: the link may be cut
        if pool is not None:
            pool.terminate()


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

    async def start(self, on_lost: Callable[[], None] | None = None) -> None:
        await self.store.open()
        await self.store.watch(self._on_change, on_lost)  # LISTEN first, then load:
        loaded = await self.store.load()  # nothing committed meanwhile is missed
        self.book.replace(loaded.rules, loaded.credentials)

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


class RuleFollower:
    """Follows a fleet's rules through outages: the first attempt is bounded (a proxy starts
    whether or not PostgreSQL answers), then one task reconnects with backoff, pings the
    listening connection when quiet, and reloads in full after each reconnection. Until the
    store answers, the rules in force are those already loaded: none at a cold start, so
    every cross-cloud call is refused (fail closed)."""

    def __init__(
        self,
        book: RuleBook,
        store: PostgresRuleStore,
        *,
        heartbeat: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.sync = RuleSync(book, store)
        self.store = store
        self.heartbeat = heartbeat
        self.backoff = backoff or Backoff()
        self.connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self._connect()
        except Exception as exc:  # noqa: BLE001 - any failure means: not connected yet
            log.warning(
                "mapping rules: their store %s does not answer (%s): cross-cloud calls are "
                "refused until it does; retrying with backoff",
                self.store.rules_table,
                exc.__class__.__name__,
            )
            await self.store.close()
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="rule-sync")

    async def _connect(self) -> None:
        self._lost.clear()
        async with asyncio.timeout(self.heartbeat):
            await self.sync.start(self._lost.set)
        self.connected.set()

    async def _follow(self) -> None:
        delays = self.backoff.delays()
        while True:
            try:
                if not self.connected.is_set():
                    await self._connect()
                    log.info("mapping rules: their store answers again; rules reloaded")
                    delays = self.backoff.delays()
                while True:
                    try:
                        async with asyncio.timeout(self.heartbeat):
                            await self._lost.wait()
                        break  # the listening connection ended
                    except TimeoutError:
                        async with asyncio.timeout(self.heartbeat):
                            await self.store.ping()
            except Exception as exc:  # noqa: BLE001 - a lost store is retried, whatever broke
                log.debug("mapping rules: store lost: %r", exc)
            self.connected.clear()
            await self.store.close()
            await asyncio.sleep(next(delays))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.store.close()
