import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from openstackoid.registry import Cloud, Credentials, Registry, SqliteStore
from openstackoid.registry.postgres import PostgresStore
from openstackoid.registry.sync import RegistrySync
from tests.pg import DSN, connect

CLOUD = Cloud(
    "c1",
    "http://k/v3",
    labels={"region": "eu"},
    credentials=Credentials(username="u", password="p", project_name="admin"),
)


async def test_sqlite_store_round_trip(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "registry.sqlite")
    await store.upsert(CLOUD)
    await store.upsert_many([Cloud(f"x{i}", "http://x/v3") for i in range(50)])
    reopened = SqliteStore(tmp_path / "registry.sqlite")
    clouds = await reopened.load_all()
    assert clouds[0] == CLOUD and len(clouds) == 51
    assert await reopened.get("c1") == CLOUD
    assert await reopened.delete("c1") is True
    assert await reopened.delete("c1") is False
    assert await reopened.get("c1") is None
    await store.close()
    await reopened.close()


@pytest_asyncio.fixture
async def pg_table() -> AsyncIterator[str]:
    await (await connect()).close()  # skips, or fails in CI, if PostgreSQL does not answer
    table = f"osd_test_{uuid.uuid4().hex[:10]}"
    yield table
    conn = await connect()
    await conn.execute(f"DROP TABLE IF EXISTS {table}")
    await conn.close()


async def test_postgres_store_round_trip(pg_table: str) -> None:
    store = await PostgresStore(DSN, table=pg_table).open()
    try:
        await store.upsert(CLOUD)
        assert await store.load_all() == [CLOUD]
        assert await store.delete("c1") is True
        assert await store.get("c1") is None
    finally:
        await store.close()


async def test_changes_reach_every_proxy_through_notify(pg_table: str) -> None:
    writer = await PostgresStore(DSN, table=pg_table).open()
    reader = await PostgresStore(DSN, table=pg_table).open()
    registry = Registry()
    sync = RegistrySync(registry, reader)
    try:
        await sync.start()
        assert len(registry) == 0
        loop = asyncio.get_running_loop()
        started = loop.time()
        await writer.upsert(CLOUD)
        await asyncio.wait_for(sync.applied.wait(), timeout=5)
        propagation = loop.time() - started
        assert registry.get("c1") == CLOUD
        print(f"propagation: {propagation * 1000:.1f} ms")
        sync.applied.clear()
        await writer.delete("c1")
        await asyncio.wait_for(sync.applied.wait(), timeout=5)
        assert "c1" not in registry
    finally:
        await writer.close()
        await reader.close()
