"""RegistrySync through real server-side losses: a restart of a private PostgreSQL, and the
shared server killing the LISTEN session (as idle_session_timeout or an operator would)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from openstackoid.registry import Cloud, Registry
from openstackoid.registry.postgres import PostgresStore
from openstackoid.registry.sync import Backoff, RegistrySync
from tests.pg import connect, private_schema
from tests.private_pg import private_postgres

pytestmark = pytest.mark.postgres

FAST = Backoff(first=0.05, cap=0.5)


async def _stale(sync: RegistrySync) -> None:
    while sync.health().state == "live":
        await asyncio.sleep(0.01)


async def test_after_a_server_restart_changes_are_heard_again() -> None:
    async with private_postgres() as server:
        writer = await PostgresStore(server.dsn).open()
        await writer.upsert(Cloud("before", "http://before.example/v3"))
        registry = Registry()
        store = PostgresStore(server.dsn, timeout=2)
        sync = RegistrySync(registry, store, heartbeat=0.5, backoff=FAST)
        await sync.start()
        try:
            await server.stop("fast")  # terminates every session: AdminShutdown
            await asyncio.wait_for(_stale(sync), 5)
            sync.synced.clear()
            await server.start()
            await asyncio.wait_for(sync.synced.wait(), 10)
            sync.applied.clear()
            await writer.upsert(Cloud("after", "http://after.example/v3"))
            await asyncio.wait_for(sync.applied.wait(), 5)
            assert registry.names() == ["before", "after"]
            assert sync.health().state == "live"
        finally:
            await sync.close()
            await store.close()
            await writer.close()


async def test_a_killed_listen_session_is_reopened_and_the_gap_reloaded() -> None:
    name = f"osd_edge_{uuid.uuid4().hex[:8]}"
    async with private_schema("kill") as dsn:
        tagged = f"{dsn}&application_name={name}"
        writer = await PostgresStore(dsn).open()
        registry = Registry()
        store = PostgresStore(tagged, timeout=2)
        sync = RegistrySync(registry, store, heartbeat=0.5, backoff=FAST)
        await sync.start()
        admin = await connect()
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = $1",
                name,
            )
            assert killed >= 1
            sync.synced.clear()
            await writer.upsert(Cloud("in-the-gap", "http://gap.example/v3"))
            await asyncio.wait_for(sync.synced.wait(), 5)  # it did reconnect and reload

            async def heard() -> None:  # by the reload, or by NOTIFY if written after it
                while "in-the-gap" not in registry:
                    await asyncio.sleep(0.01)

            await asyncio.wait_for(heard(), 5)
        finally:
            await admin.close()
            await sync.close()
            await store.close()
            await writer.close()
