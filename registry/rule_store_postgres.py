"""Mapping rules and target credentials of a fleet in PostgreSQL, changes pushed by NOTIFY.

Tables of their own (`<prefix>_mapping_rules`, `<prefix>_target_credentials`) beside the
clouds table, and one channel `<prefix>_rule_changes`; every write notifies inside its
transaction, so listeners only hear committed changes. RuleSync keeps a proxy's RuleBook in
step (a PgFollower, registry/pg_follower.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

import asyncpg

from openstackoid.registry.errors import InvalidRuleError, RegistryError, StoreUnavailableError
from openstackoid.registry.mapping import RuleBook
from openstackoid.registry.pg_follower import Backoff, PgFollower
from openstackoid.registry.postgres import ChangeFeed, as_store_unavailable, redact_dsn
from openstackoid.registry.rule_store import (
    RuleChangeCallback,
    RuleSet,
    credential_row,
    load_credential_row,
    load_rule_row,
    rule_row,
)
from openstackoid.registry.rules import MappingRule, TargetCredential

log = logging.getLogger("openstackoid.registry")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,30}$")


class PostgresRuleStore:
    """Connections are made when needed, each within `timeout` seconds, and every statement
    is bounded by it too."""

    def __init__(self, dsn: str, prefix: str = "openstackoid", timeout: float = 10.0) -> None:
        if not _IDENTIFIER.match(prefix):
            raise RegistryError(f"invalid table prefix {prefix!r}")
        self.dsn = dsn
        self.rules_table = f"{prefix}_mapping_rules"
        self.credentials_table = f"{prefix}_target_credentials"
        self.channel = f"{prefix}_rule_changes"
        self.timeout = timeout
        self._pool: asyncpg.Pool | None = None
        self._feed: ChangeFeed | None = None
        """A following proxy's LISTEN connection, which its reads go through too."""

    @property
    def where(self) -> str:
        """The store as told in logs and health reports: no password."""
        return f"{redact_dsn(self.dsn)} tables {self.rules_table}, {self.credentials_table}"

    async def open(self) -> PostgresRuleStore:
        if self._pool is not None:
            return self
        # No idle pooled connection: a proxy reads through its LISTEN connection; the pool
        # serves the admin API's rare writes and lets go of them when idle.
        pool = await asyncpg.create_pool(
            self.dsn,
            min_size=0,
            max_size=2,
            max_inactive_connection_lifetime=10.0,
            timeout=self.timeout,
            command_timeout=self.timeout,
        )
        try:
            with as_store_unavailable(self.where):
                async with pool.acquire(timeout=self.timeout) as conn:
                    await conn.execute(
                        f"CREATE TABLE IF NOT EXISTS {self.rules_table} ("
                        " id BIGSERIAL, name TEXT PRIMARY KEY, data JSONB NOT NULL)"
                    )
                    await conn.execute(
                        f"CREATE TABLE IF NOT EXISTS {self.credentials_table} ("
                        " id BIGSERIAL, cloud TEXT NOT NULL, name TEXT NOT NULL,"
                        " data JSONB NOT NULL, PRIMARY KEY (cloud, name))"
                    )
        except BaseException:  # the tables are made on the next open, with a new pool
            pool.terminate()
            raise
        self._pool = pool
        return self

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RegistryError("PostgresRuleStore is not open: call `await store.open()` first")
        return self._pool

    async def _fetch(self, query: str, *args: str) -> list[asyncpg.Record]:
        """Reads go through the LISTEN connection when there is one (a following proxy
        holds one connection, not two), else through the pool."""
        if self._feed is not None and self._feed.lost is None:
            return await self._feed.fetch(query, *args)
        with as_store_unavailable(self.where):
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
        # A link down is StoreUnavailableError: the admin API answers 503, change not made.
        with as_store_unavailable(self.where):
            await self.open()  # the follower drops the pool when the link is lost
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

    async def listen(self, callback: RuleChangeCallback, on_lost: Callable[[], None]) -> ChangeFeed:
        """A change feed calling `callback(kind, operation, key)` for every committed change,
        from any process, and `on_lost()` once if the connection ends; reads go through it
        while it is open."""

        def on_notify(payload: str) -> None:
            kind, operation, key = payload.split(" ", 2)
            callback(kind, operation, key)

        self._feed = await ChangeFeed.open(
            self.dsn, self.channel, self.where, self.timeout, on_notify, on_lost
        )
        return self._feed

    def drop_connections(self) -> None:
        """Forget the LISTEN connection (its follower closes it) and abort the pooled ones:
        after a lost link they may be dead or stalled."""
        self._feed = None
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None

    async def drop(self) -> None:
        """Remove the tables (tests)."""
        await self.pool.execute(f"DROP TABLE IF EXISTS {self.rules_table}")
        await self.pool.execute(f"DROP TABLE IF EXISTS {self.credentials_table}")

    async def close(self) -> None:
        self.drop_connections()  # no goodbye: the link may be cut


class RuleSync(PgFollower[PostgresRuleStore]):
    """Keeps a RuleBook in step with a PostgreSQL store, through outages: each row a NOTIFY
    names is read again (the payload carries no data: the row is the truth). Until the store
    answers, the rules in force are those already loaded: none at a cold start, so every
    cross-cloud call is refused (fail closed)."""

    label = "mapping rules"
    meanwhile = "cross-cloud calls are refused until it answers"

    def __init__(
        self,
        book: RuleBook,
        store: PostgresRuleStore,
        *,
        heartbeat: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(store, heartbeat=heartbeat, backoff=backoff or Backoff())
        self.book = book
        self.connected = asyncio.Event()
        """Set once the rules are loaded, cleared while their store is lost."""

    async def _listen(self) -> ChangeFeed:
        await self.store.open()
        return await self.store.listen(
            lambda kind, operation, key: self._on_change(operation, f"{kind} {key}"),
            self._on_lost,
        )

    async def _reload(self) -> None:
        try:
            loaded = await self.store.load()
        except InvalidRuleError as exc:  # a row no rule can be made of: retried, as if down
            raise StoreUnavailableError(f"the stored rules do not load: {exc}") from exc
        self.book.replace(loaded.rules, loaded.credentials)

    async def _reloaded(self) -> None:
        self.connected.set()

    async def _refresh(self, keys: list[str]) -> None:
        for key in keys:
            kind, _, name = key.partition(" ")
            try:
                await self._reread(kind, name)
            except InvalidRuleError as exc:  # the book keeps what it had for that row
                log.warning("mapping rules: skipping the stored %s %r: %s", kind, name, exc)

    async def _reread(self, kind: str, key: str) -> None:
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

    def _lost(self, reason: str) -> None:
        self.connected.clear()
        super()._lost(reason)

    def _as_last_synced(self) -> str:
        return f"deciding with the {len(self.book)} mapping rules as last synced"


class RuleFollower(RuleSync):
    """A RuleSync that owns its store: closing it closes the store too (the proxy makes
    the store for it)."""

    async def close(self) -> None:
        await super().close()
        await self.store.close()
