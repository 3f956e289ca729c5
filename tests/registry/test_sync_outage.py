"""RegistrySync against the real PostgreSQL through a relay the test cuts, stalls and
restores: the shared server itself is never stopped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import pytest
import pytest_asyncio

from openstackoid.registry import Cloud, Registry
from openstackoid.registry.postgres import PostgresStore
from openstackoid.registry.snapshot import SnapshotFile
from openstackoid.registry.sync import Backoff, RegistrySync
from tests.faultline import Faultline
from tests.pg import private_schema, server_address, through

pytestmark = pytest.mark.postgres

FAST = Backoff(first=0.05, cap=0.5)
"""Reconnection within half a second of a restore: keeps the tests short."""


def cloud(name: str) -> Cloud:
    return Cloud(name, f"http://{name}.example:5000/v3", labels={"site": "edge"})


@pytest_asyncio.fixture
async def dsn() -> AsyncIterator[str]:
    async with private_schema("sync") as schema_dsn:
        yield schema_dsn


@pytest_asyncio.fixture
async def line(dsn: str) -> AsyncIterator[Faultline]:
    relay = await Faultline.open(*server_address(dsn))
    yield relay
    await relay.close()


@pytest_asyncio.fixture
async def writer(dsn: str) -> AsyncIterator[PostgresStore]:
    """The centre's side: writes straight to the server, never through the relay."""
    store = await PostgresStore(dsn).open()
    yield store
    await store.close()


async def _follower(
    dsn: str, line: Faultline, registry: Registry, snapshot: SnapshotFile | None = None
) -> tuple[RegistrySync, PostgresStore]:
    store = PostgresStore(through(dsn, line.port), timeout=2)
    return RegistrySync(registry, store, snapshot, heartbeat=0.5, backoff=FAST), store


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for `check()` to hold, polling the loop; TimeoutError after `timeout`."""

    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def _converged(sync: RegistrySync, timeout: float = 5.0) -> None:
    """Until the next full load is applied and saved (clear `synced` before the restore)."""
    await asyncio.wait_for(sync.synced.wait(), timeout)
    assert sync.health().state == "live"


async def test_changes_made_during_an_outage_are_applied_once_the_link_is_back(
    dsn: str, line: Faultline, writer: PostgresStore
) -> None:
    await writer.upsert_many([cloud("keep"), cloud("doomed")])
    registry = Registry()
    sync, store = await _follower(dsn, line, registry)
    await sync.start()
    try:
        assert registry.names() == ["keep", "doomed"] and sync.health().state == "live"
        line.cut()
        await writer.upsert(cloud("born-while-cut"))
        await writer.delete("doomed")
        await writer.upsert(Cloud("keep", "http://moved.example:5000/v3"))
        await until(lambda: sync.health().state != "live")
        health = sync.health()
        assert health.state == "stale" and health.reason and "as last synced" in health.reason
        assert sorted(registry.names()) == ["doomed", "keep"]  # still serving the old copy

        sync.synced.clear()
        line.restore()
        await _converged(sync)
        assert sorted(registry.names()) == ["born-while-cut", "keep"]
        assert registry.get("keep").auth_url == "http://moved.example:5000/v3"

        sync.applied.clear()  # LISTEN resumed: a later change arrives by NOTIFY
        await writer.upsert(cloud("after"))
        await asyncio.wait_for(sync.applied.wait(), 5)
        assert "after" in registry
    finally:
        await sync.close()
        await store.close()
    await line.wait_idle()  # no connection left behind by the reconnections


async def test_a_stalled_link_is_noticed_by_the_heartbeat_and_recovered(
    dsn: str, line: Faultline, writer: PostgresStore
) -> None:
    registry = Registry()
    sync, store = await _follower(dsn, line, registry)
    await sync.start()
    try:
        sync.synced.clear()
        line.stall()  # no RST, no FIN: only an unanswered ping can tell
        await writer.upsert(cloud("during-stall"))
        await until(lambda: sync.health().state != "live")
        assert "did not answer a ping" in (sync.health().reason or "")
        line.restore()
        await _converged(sync)
        assert "during-stall" in registry
    finally:
        await sync.close()
        await store.close()


async def test_started_cut_off_it_serves_the_snapshot_says_so_and_converges(
    dsn: str,
    line: Faultline,
    writer: PostgresStore,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await writer.upsert_many([cloud("a"), cloud("b")])
    first, first_store = await _follower(dsn, line, Registry())
    snapshot = SnapshotFile(tmp_path / "snap.json", first_store.where)
    first.snapshot = snapshot
    await first.start()  # a proxy that ran live once left its snapshot
    await first.close()
    await first_store.close()
    assert [c.name for c in snapshot.read().clouds] == ["a", "b"]  # type: ignore[union-attr]

    line.cut()
    await writer.delete("a")
    await writer.upsert(cloud("c"))
    registry = Registry()
    sync, store = await _follower(dsn, line, registry, snapshot)
    caplog.set_level(logging.WARNING, "openstackoid.registry")
    await sync.start()
    try:
        assert registry.names() == ["a", "b"] and sync.health().state == "snapshot"
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "SERVING A SNAPSHOT" in warnings[0].getMessage()
        assert str(snapshot.path) in warnings[0].getMessage() and warnings[0].exc_info is None
        line.restore()
        await _converged(sync)
        assert sorted(registry.names()) == ["b", "c"]
        assert sorted(c.name for c in snapshot.read().clouds) == ["b", "c"]  # type: ignore[union-attr]
    finally:
        await sync.close()
        await store.close()


async def test_started_cut_off_without_a_snapshot_it_waits_with_one_line_then_serves(
    dsn: str,
    line: Faultline,
    writer: PostgresStore,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await writer.upsert(cloud("only"))
    line.cut()
    registry = Registry()
    sync, store = await _follower(dsn, line, registry)
    sync.snapshot = SnapshotFile(tmp_path / "none-yet.json", store.where)
    caplog.set_level(logging.WARNING, "openstackoid.registry")
    starting = asyncio.get_running_loop().create_task(sync.start())
    try:
        await until(lambda: bool(caplog.records))
        attempts = line.accepted
        await until(lambda: line.accepted >= attempts + 3)  # it keeps trying, with backoff
        assert not starting.done() and sync.health().state == "waiting"
        (record,) = caplog.records
        message = record.getMessage()
        assert "waiting for" in message and "no snapshot at" in message
        assert "\n" not in message and record.exc_info is None
        line.restore()
        await asyncio.wait_for(starting, 5)
        assert registry.names() == ["only"] and sync.health().state == "live"
        assert (tmp_path / "none-yet.json").exists()
    finally:
        starting.cancel()
        await sync.close()
        await store.close()


async def test_a_snapshot_of_another_store_is_not_served(
    dsn: str, line: Faultline, tmp_path: Path, writer: PostgresStore
) -> None:
    other = SnapshotFile(tmp_path / "snap.json", "postgresql://elsewhere/db table t")
    other.write([cloud("foreign")])
    line.cut()
    registry = Registry()
    sync, store = await _follower(dsn, line, registry)
    sync.snapshot = SnapshotFile(other.path, store.where)
    starting = asyncio.get_running_loop().create_task(sync.start())
    try:
        await until(lambda: sync.health().state == "waiting")
        assert "foreign" not in registry
    finally:
        starting.cancel()
        await sync.close()
        await store.close()


class CountingSnapshot(SnapshotFile):
    writes = 0

    def write(self, clouds: Iterable[Cloud]) -> None:
        self.writes += 1
        super().write(clouds)


async def test_a_burst_of_changes_writes_one_snapshot_not_one_per_change(
    dsn: str, line: Faultline, writer: PostgresStore, tmp_path: Path
) -> None:
    registry = Registry()
    sync, store = await _follower(dsn, line, registry)
    snapshot = CountingSnapshot(tmp_path / "snap.json", store.where)
    sync.snapshot, sync.snapshot_interval = snapshot, 60.0
    await sync.start()
    try:
        assert snapshot.writes == 1  # the full load
        for n in range(20):
            sync.applied.clear()
            await writer.upsert(cloud(f"c{n}"))
            await asyncio.wait_for(sync.applied.wait(), 5)
        assert len(registry) == 20 and snapshot.writes == 1
    finally:
        await sync.close()
        await store.close()
    assert snapshot.writes == 2  # the changes since, saved on the way out
    assert len(snapshot.read().clouds) == 20  # type: ignore[union-attr]


async def test_a_row_no_cloud_can_be_made_of_is_skipped_not_fatal(
    dsn: str, line: Faultline, writer: PostgresStore, caplog: pytest.LogCaptureFixture
) -> None:
    await writer.upsert(cloud("good"))
    async with writer._connection() as conn:  # as a hand-made row or another version would
        await conn.execute(
            f"INSERT INTO {writer.table} (name, data) VALUES ('broken', $1::jsonb)", '{"name": 1}'
        )
    registry = Registry()
    sync, store = await _follower(dsn, line, registry)
    await sync.start()
    try:
        assert registry.names() == ["good"] and sync.health().state == "live"
        assert any("skipping the stored cloud 'broken'" in r.getMessage() for r in caplog.records)
    finally:
        await sync.close()
        await store.close()
