"""Rule stores: SQLite beside the clouds table, PostgreSQL with NOTIFY (real server)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from openstackoid.registry import Cloud, SqliteStore
from openstackoid.registry.errors import InvalidRuleError
from openstackoid.registry.mapping import RuleBook
from openstackoid.registry.rule_store import MemoryRuleStore, RuleStore, SqliteRuleStore
from openstackoid.registry.rule_store_postgres import PostgresRuleStore, RuleFollower, RuleSync
from openstackoid.registry.rules import credential_from_data, rule_from_data
from openstackoid.registry.sync import Backoff
from tests.faultline import Faultline

DSN = os.environ.get("OPENSTACKOID_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/test")
RULE = rule_from_data(
    {
        "name": "members-read",
        "match": {"issuer": "cloud-1", "roles": "member"},
        "targets": ["cloud-3"],
        "credential": "reader",
    }
)
CREDENTIAL = credential_from_data(
    {
        "cloud": "cloud-3",
        "name": "reader",
        "application_credential_id": "ac-3",
        "application_credential_secret": "s3cret-ac",
    }
)


async def _round_trip(store: RuleStore) -> None:
    await store.upsert_rule(RULE)
    await store.upsert_credential(CREDENTIAL)
    loaded = await store.load()
    assert loaded.rules == (RULE,) and loaded.credentials == (CREDENTIAL,)
    assert loaded.credentials[0].credentials.application_credential_secret == "s3cret-ac"
    changed = rule_from_data({**RULE.to_data(), "priority": 7})
    await store.upsert_rule(changed)
    assert (await store.load()).rules == (changed,)
    assert await store.delete_rule("members-read") is True
    assert await store.delete_rule("members-read") is False
    assert await store.delete_credential("cloud-3", "reader") is True
    assert await store.delete_credential("cloud-3", "reader") is False
    loaded = await store.load()
    assert loaded.rules == () and loaded.credentials == ()


async def test_memory_store_round_trip() -> None:
    await _round_trip(MemoryRuleStore())


async def test_sqlite_store_round_trip_beside_the_clouds(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    clouds = SqliteStore(path)
    await clouds.upsert(Cloud("cloud-3", "http://c3/v3"))
    store = SqliteRuleStore(path)
    await _round_trip(store)
    await store.upsert_rule(RULE)
    await store.close()
    reopened = SqliteRuleStore(path)
    assert (await reopened.load()).rules == (RULE,)
    assert [c.name for c in await clouds.load_all()] == ["cloud-3"]
    await reopened.close()
    await clouds.close()


async def test_a_bad_stored_row_is_an_error_naming_its_table(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    store = SqliteRuleStore(path)
    db = sqlite3.connect(path)
    with db:
        db.execute("INSERT INTO mapping_rules VALUES (?, ?)", ("x", json.dumps({"name": "x"})))
    db.close()
    with pytest.raises(InvalidRuleError, match="table mapping_rules"):
        await store.load()
    await store.close()


@pytest_asyncio.fixture
async def pg_prefix() -> AsyncIterator[str]:
    try:
        conn = await asyncpg.connect(DSN, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL not answering at {DSN}: {exc}")
    await conn.close()
    prefix = f"osd_rules_{uuid.uuid4().hex[:8]}"
    yield prefix
    conn = await asyncpg.connect(DSN)
    for table in ("mapping_rules", "target_credentials"):
        await conn.execute(f"DROP TABLE IF EXISTS {prefix}_{table}")
    await conn.close()


async def test_postgres_store_round_trip(pg_prefix: str) -> None:
    store = await PostgresRuleStore(DSN, pg_prefix).open()
    try:
        await _round_trip(store)
    finally:
        await store.close()


async def _until(sync: RuleSync, holds: Callable[[], bool]) -> None:
    """Wait for applied changes until `holds()`: the event may be left set by an earlier
    change, so the state is what is checked, each change the wake-up."""
    async with asyncio.timeout(10):
        while not holds():
            await sync.applied.wait()
            sync.applied.clear()


async def test_postgres_changes_reach_every_proxys_rule_book(pg_prefix: str) -> None:
    writer = await PostgresRuleStore(DSN, pg_prefix).open()
    await writer.upsert_credential(CREDENTIAL)
    reader = await PostgresRuleStore(DSN, pg_prefix).open()
    book = RuleBook()
    sync = RuleSync(book, reader)
    try:
        await sync.start()
        assert book.credential("cloud-3", "reader") == CREDENTIAL and len(book) == 0
        await writer.upsert_rule(RULE)
        await _until(sync, lambda: book.rule("members-read") == RULE)
        await writer.delete_credential("cloud-3", "reader")
        await _until(sync, lambda: book.credential("cloud-3", "reader") is None)
        for priority in range(1, 6):  # quick successive writes land in order
            await writer.upsert_rule(rule_from_data({**RULE.to_data(), "priority": priority}))
        await _until(sync, lambda: getattr(book.rule("members-read"), "priority", 0) == 5)
        await writer.delete_rule("members-read")
        await _until(sync, lambda: book.rule("members-read") is None)
    finally:
        await sync.close()
        await writer.close()
        await reader.close()


def test_invalid_prefix_is_refused() -> None:
    from openstackoid.registry.errors import RegistryError

    with pytest.raises(RegistryError, match="invalid table prefix"):
        PostgresRuleStore(DSN, "x; DROP TABLE y")


async def test_the_follower_starts_cut_off_then_converges_and_survives_a_cut(
    pg_prefix: str,
) -> None:
    """A proxy starts whether or not PostgreSQL answers (no rules: fail closed), loads the
    rules once the link is back, and reconnects and reloads after a cut."""
    host, port = "127.0.0.1", 5432
    line = await Faultline.open(host, port)
    cut_dsn = DSN.replace(f"{host}:{port}", f"127.0.0.1:{line.port}")
    writer = await PostgresRuleStore(DSN, pg_prefix).open()
    book = RuleBook()
    follower = RuleFollower(
        book, PostgresRuleStore(cut_dsn, pg_prefix), heartbeat=0.5, backoff=Backoff(0.05, 0.2)
    )
    try:
        line.cut()
        async with asyncio.timeout(5):  # bounded: the proxy starts anyway
            await follower.start()
        assert not follower.connected.is_set() and len(book) == 0
        health = follower.health()
        assert health.state == "waiting" and "cross-cloud calls are refused" in (
            health.reason or ""
        )
        await writer.upsert_rule(RULE)
        line.restore()
        async with asyncio.timeout(10):
            await follower.connected.wait()
        assert book.rule("members-read") == RULE and follower.health().state == "live"
        line.cut()  # the listening connection dies; a change made meanwhile is not lost
        await writer.delete_rule("members-read")
        line.restore()
        async with asyncio.timeout(10):
            while book.rule("members-read") is not None:
                await asyncio.sleep(0.05)
    finally:
        await follower.close()
        await writer.close()


async def test_a_stored_rule_that_does_not_load_is_retried_never_a_failed_start(
    pg_prefix: str,
) -> None:
    """A row written by hand or by another version: the proxy starts without rules (fail
    closed), says why, and loads them once the row is fixed."""
    writer = await PostgresRuleStore(DSN, pg_prefix).open()
    await writer.pool.execute(
        f"INSERT INTO {writer.rules_table} (name, data) VALUES ('bad', $1::jsonb)",
        json.dumps({"name": "bad"}),
    )
    book = RuleBook()
    sync = RuleSync(book, PostgresRuleStore(DSN, pg_prefix), backoff=Backoff(0.05, 0.2))
    try:
        await sync.start()
        health = sync.health()
        assert health.state == "waiting" and "do not load" in (health.reason or "")
        await writer.upsert_rule(RULE)
        await writer.delete_rule("bad")  # the first load that succeeds has RULE
        async with asyncio.timeout(10):
            await sync.connected.wait()
        assert book.rule("members-read") == RULE and sync.health().state == "live"
    finally:
        await sync.close()
        await sync.store.close()
        await writer.close()
