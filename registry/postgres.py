"""A registry shared by a fleet of proxies in PostgreSQL, changes pushed by LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from openstackoid.registry.errors import RegistryError, StoreUnavailableError
from openstackoid.registry.model import Cloud
from openstackoid.registry.store import ChangeCallback

log = logging.getLogger("openstackoid.registry")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")
_LINK_ERRORS = (
    OSError,  # refused, reset, unreachable network
    TimeoutError,  # a stalled link: connect or command timeout
    asyncpg.InterfaceError,  # the connection was lost mid-call (ConnectionDoesNotExistError)
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.OperatorInterventionError,  # 57P01-03: the server shuts down or is starting
    asyncpg.InsufficientResourcesError,  # 53300: too many connections
)
"""What a lost or absent server raises."""
_UNREACHABLE = (*_LINK_ERRORS, asyncpg.PostgresError)
"""Those, and a server that answers but refuses (no schema, no privilege): each becomes
StoreUnavailableError."""


def redact_dsn(dsn: str) -> str:
    """The DSN without its password, for logs, health reports and snapshot labels."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class ChangeFeed:
    """One LISTEN connection. `lost` says why it ended, once it has; `ping()` proves it is
    still alive, since a cut link without FIN or RST closes no socket for minutes."""

    def __init__(
        self, conn: asyncpg.Connection, where: str, on_lost: Callable[[], None], timeout: float
    ) -> None:
        self._conn = conn
        self._where = where
        self._on_lost = on_lost
        self._timeout = timeout
        self._busy = asyncio.Lock()
        """One operation at a time on the connection (asyncpg's rule)."""
        self.lost: str | None = None
        conn.add_termination_listener(self._terminated)

    @classmethod
    async def open(
        cls,
        dsn: str,
        channel: str,
        where: str,
        timeout: float,
        on_notify: Callable[[str], None],
        on_lost: Callable[[], None],
    ) -> ChangeFeed:
        """LISTEN on `channel`: `on_notify(payload)` for every committed change, from any
        process, and `on_lost()` once if the connection ends."""
        with as_store_unavailable(where):
            conn = await asyncpg.connect(dsn, timeout=timeout)

        def notified(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            on_notify(payload)

        feed = cls(conn, where, on_lost, timeout)
        try:
            async with asyncio.timeout(timeout):
                await conn.add_listener(channel, notified)
        except _UNREACHABLE as exc:
            conn.terminate()
            raise StoreUnavailableError(
                f"LISTEN on the registry's PostgreSQL ({where}) failed: {_describe(exc)}"
            ) from exc
        except BaseException:  # cancelled: the connection must not outlive its caller
            conn.terminate()
            raise
        return feed

    def _terminated(self, _conn: Any) -> None:
        self._mark_lost(f"lost the change feed from {self._where}: the connection closed")

    def _mark_lost(self, reason: str) -> None:
        if self.lost is None:
            self.lost = reason
            self._on_lost()

    async def ping(self, timeout: float) -> None:
        try:
            async with self._busy:
                await self._conn.fetchval("SELECT 1", timeout=timeout)
        except TimeoutError as exc:
            self._mark_lost(f"{self._where} did not answer a ping within {timeout:g} s")
            raise StoreUnavailableError(self.lost) from exc
        except _UNREACHABLE as exc:
            self._mark_lost(f"lost the change feed from {self._where}: {_describe(exc)}")
            raise StoreUnavailableError(self.lost) from exc

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """Rows read through the feed's own connection: a follower that reads this way
        holds one connection, not two."""
        try:
            async with self._busy:
                return list(await self._conn.fetch(query, *args, timeout=self._timeout))
        except _UNREACHABLE as exc:
            self._mark_lost(_unusable(self._where, exc))
            raise StoreUnavailableError(self.lost) from exc

    async def close(self) -> None:
        if self.lost is not None:
            self._conn.terminate()  # no goodbye over a dead or stalled link
            return
        try:
            await self._conn.close(timeout=2)
        except _UNREACHABLE:
            self._conn.terminate()
        except BaseException:  # cancelled mid-goodbye: leave no connection behind
            self._conn.terminate()
            raise


class PostgresStore:
    """Clouds in one table; every write notifies channel `<table>_changes` in its transaction,
    so listeners only hear committed changes.

    Connections are made when needed, each within `timeout` seconds, and every statement is
    bounded by it too: an unreachable server is a StoreUnavailableError in seconds, never a
    call hanging on a stalled link.
    """

    def __init__(self, dsn: str, table: str = "openstackoid_clouds", timeout: float = 10.0) -> None:
        if not _IDENTIFIER.match(table):
            raise RegistryError(f"invalid table name {table!r}")
        self.dsn = dsn
        self.table = table
        self.channel = f"{table}_changes"
        self.timeout = timeout
        self._pool: asyncpg.Pool | None = None

    @property
    def where(self) -> str:
        """The store as told in logs and health reports: no password."""
        return f"{redact_dsn(self.dsn)} table {self.table}"

    async def open(self) -> PostgresStore:
        """Connect and create the table: raises StoreUnavailableError if the server is down."""
        await self.ensure_table()
        return self

    async def _ready_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            # min_size=0: creating the pool connects nothing, so a pool exists while the
            # server is down, and each call connects (or fails) on its own.
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=0,
                max_size=4,
                timeout=self.timeout,
                command_timeout=self.timeout,
            )
        return self._pool

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        with as_store_unavailable(self.where):
            pool = await self._ready_pool()
            async with pool.acquire(timeout=self.timeout) as conn:
                yield conn

    async def ensure_table(self) -> None:
        async with self._connection() as conn:
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                " id BIGSERIAL, name TEXT PRIMARY KEY, data JSONB NOT NULL)"
            )

    async def load_all(self) -> list[Cloud]:
        async with self._connection() as conn:
            rows = await conn.fetch(f"SELECT name, data FROM {self.table} ORDER BY id")
        return _clouds_of(rows)

    async def get(self, name: str) -> Cloud | None:
        found = await self.get_many((name,))
        return found.get(name)

    async def get_many(self, names: Iterable[str]) -> dict[str, Cloud]:
        """The named clouds that exist, by name: one round trip for a burst of changes."""
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT name, data FROM {self.table} WHERE name = ANY($1::text[])", list(names)
            )
        return {cloud.name: cloud for cloud in _clouds_of(rows)}

    async def upsert(self, cloud: Cloud) -> None:
        await self.upsert_many((cloud,))

    async def upsert_many(self, clouds: Iterable[Cloud]) -> int:
        rows = [(c.name, json.dumps(c.to_dict(with_secrets=True))) for c in clouds]
        async with self._connection() as conn, conn.transaction():
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
        async with self._connection() as conn, conn.transaction():
            status = await conn.execute(f"DELETE FROM {self.table} WHERE name = $1", name)
            deleted: bool = status == "DELETE 1"
            if deleted:
                await conn.execute("SELECT pg_notify($1, $2)", self.channel, f"delete {name}")
        return deleted

    async def listen(self, callback: ChangeCallback, on_lost: Callable[[], None]) -> ChangeFeed:
        """A change feed calling `callback(operation, name)` for every committed change,
        from any process, and `on_lost()` once if the connection ends."""

        def on_notify(payload: str) -> None:
            operation, _, name = payload.partition(" ")
            callback(operation, name)

        return await ChangeFeed.open(
            self.dsn, self.channel, self.where, self.timeout, on_notify, on_lost
        )

    def drop_connections(self) -> None:
        """Abort every pooled connection: after a lost link they may be dead or stalled,
        and the next call should connect afresh rather than wait on one of them."""
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None

    async def drop(self) -> None:
        """Remove the table (tests)."""
        async with self._connection() as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {self.table}")

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), self.timeout)
            except _UNREACHABLE:
                pool.terminate()  # a graceful goodbye cannot cross a dead link
            except asyncio.CancelledError:
                pool.terminate()
                raise


def _clouds_of(rows: Iterable[asyncpg.Record]) -> list[Cloud]:
    """The rows' clouds; a row no Cloud can be made of (written by hand, or by another
    version) is skipped with a warning rather than stopping every proxy of the fleet."""
    clouds = []
    for row in rows:
        try:
            clouds.append(Cloud.from_dict(json.loads(row["data"])))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("registry: skipping the stored cloud %r: %r", row["name"], exc)
    return clouds


@contextmanager
def as_store_unavailable(where: str) -> Iterator[None]:
    """What a lost, absent or refusing server raises, as a StoreUnavailableError."""
    try:
        yield
    except _UNREACHABLE as exc:
        raise StoreUnavailableError(_unusable(where, exc)) from exc


def _unusable(where: str, exc: BaseException) -> str:
    if isinstance(exc, asyncpg.PostgresError) and not isinstance(exc, _LINK_ERRORS):
        return f"the registry's PostgreSQL ({where}) refused: {exc}"
    return f"the registry's PostgreSQL ({where}) is unreachable: {_describe(exc)}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, asyncpg.PostgresError) else f"{type(exc).__name__}: {text}"
