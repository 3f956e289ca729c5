"""PgFollower on its own, over the real PostgreSQL: a copy that is a plain dict of clouds,
so only the following is under test (the stores' own tests cover RegistrySync,
NamedScopeSync and RuleSync)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from openstackoid.registry import Cloud
from openstackoid.registry.pg_follower import Backoff, PgFollower
from openstackoid.registry.postgres import ChangeFeed, PostgresStore
from tests.pg import private_schema

pytestmark = pytest.mark.postgres


class DictFollower(PgFollower[PostgresStore]):
    label = "test copy"

    def __init__(self, store: PostgresStore) -> None:
        super().__init__(store, heartbeat=60, backoff=Backoff(0.05, 0.2))
        self.copy: dict[str, str] = {}
        self.after_read: Callable[[], Awaitable[None]] | None = None
        """Run once, inside the next `_refresh`, after its rows were read."""

    async def _listen(self) -> ChangeFeed:
        await self.store.ensure_table()
        return await self.store.listen(self._on_change, self._on_lost)

    async def _reload(self) -> None:
        self.copy = {c.name: c.auth_url for c in await self.store.load_all()}

    async def _refresh(self, keys: list[str]) -> None:
        found = await self.store.get_many(keys)
        if self.after_read is not None:
            after_read, self.after_read = self.after_read, None
            await after_read()
        for name in keys:
            if name in found:
                self.copy[name] = found[name].auth_url
            else:
                self.copy.pop(name, None)

    def _as_last_synced(self) -> str:
        return f"the {len(self.copy)} entries as last synced"


async def test_a_change_notified_while_its_row_is_read_is_read_again() -> None:
    async with private_schema("follow") as dsn:
        writer = await PostgresStore(dsn).open()
        follower = DictFollower(PostgresStore(dsn))
        try:
            await follower.start()
            assert follower.health().state == "live" and follower.copy == {}

            async def change_it_again() -> None:  # committed after the read, heard during it
                await writer.upsert(Cloud("c", "http://second.example/v3"))
                while "c" not in follower._dirty:
                    await asyncio.sleep(0.01)

            follower.after_read = change_it_again
            await writer.upsert(Cloud("c", "http://first.example/v3"))
            async with asyncio.timeout(5):
                while follower.copy.get("c") != "http://second.example/v3":
                    follower.applied.clear()
                    await follower.applied.wait()
        finally:
            await follower.close()
            await follower.store.close()
            await writer.close()


async def test_close_ends_the_follower_even_as_a_change_wakes_it() -> None:
    """asyncio.wait_for (Python 3.11) returns the awaited result when cancelled just as it
    completes: a follower woken by a NOTIFY at the moment of close() would never end."""
    async with private_schema("follow") as dsn:
        follower = DictFollower(PostgresStore(dsn))
        try:
            await follower.start()
            await asyncio.sleep(0.05)  # the task waits for a change
            follower._wake.set()  # a NOTIFY arriving in the same loop turn as close()
            closing = asyncio.get_running_loop().create_task(follower.close())
            done, _ = await asyncio.wait({closing}, timeout=2)
            assert closing in done, "close() still waits: the follower swallowed its cancel"
        finally:
            await follower.close()
            await follower.store.close()
