"""Named scopes: checked values, stores, the PostgreSQL follower, the CLI, and a fleet."""

import asyncio
import json
import uuid
from pathlib import Path

import aiohttp
import pytest

from openstackoid.cli import main
from openstackoid.proxy import ProxyConfig, running_proxy
from openstackoid.registry import Registry
from openstackoid.registry.named_scope_postgres import NamedScopeSync, PostgresNamedScopeStore
from openstackoid.registry.named_scope_store import MemoryNamedScopeStore, SqliteNamedScopeStore
from openstackoid.registry.named_scopes import (
    InvalidNamedScopeError,
    NamedScopes,
    UnknownNamedScopeError,
    named_scope,
)
from openstackoid.registry.sync import Backoff
from openstackoid.scope_dsl import parse_scope
from tests.pg import connect, private_schema

FED = named_scope("fed-c2", "keystone: cloud-1; glance: cloud-2", "seed")


def test_a_named_scope_is_checked() -> None:
    assert FED.scope == parse_scope("{keystone: cloud-1; glance: cloud-2}")
    assert FED.to_dict() == {
        "name": "fed-c2",
        "scope": "{identity: cloud-1; image: cloud-2}",
        "description": "seed",
    }
    with pytest.raises(InvalidNamedScopeError, match="invalid scope name"):
        named_scope("fed:c2", "cloud-1")  # a ':' would read as an inline scope in a URL
    with pytest.raises(InvalidNamedScopeError, match="invalid scope name"):
        named_scope("x" * 65, "cloud-1")
    with pytest.raises(InvalidNamedScopeError, match=r"(?s)does not parse: .*\^"):
        named_scope("bad", "glance: cloud-2 |")


def test_the_table_is_bounded_and_suggests() -> None:
    scopes = NamedScopes(limit=2)
    scopes.upsert(FED)
    scopes.upsert(named_scope("fed-c3", "cloud-3"))
    scopes.upsert(named_scope("fed-c3", "cloud-4"))  # a replacement takes no room
    with pytest.raises(InvalidNamedScopeError, match="2 named scopes are registered"):
        scopes.upsert(named_scope("fed-c4", "cloud-4"))
    with pytest.raises(UnknownNamedScopeError, match="Did you mean .*'fed-c2'"):
        scopes.get("fed-c1")
    assert [s.name for s in scopes] == ["fed-c2", "fed-c3"]


async def test_memory_and_sqlite_stores_round_trip(tmp_path: Path) -> None:
    for store in (MemoryNamedScopeStore(), SqliteNamedScopeStore(tmp_path / "reg.sqlite")):
        await store.upsert_scope(FED)
        await store.upsert_scope(named_scope("fed-c2", "cloud-2"))
        assert [s.text for s in await store.load_scopes()] == ["{*: cloud-2}"]
        assert await store.delete_scope("fed-c2") is True
        assert await store.delete_scope("fed-c2") is False
        await store.close()


async def test_a_stored_row_that_no_longer_parses_is_skipped(tmp_path: Path) -> None:
    store = SqliteNamedScopeStore(tmp_path / "reg.sqlite")
    await store.upsert_scope(FED)
    with store._db:
        store._db.execute(
            "INSERT INTO named_scopes VALUES ('broken', ?)",
            (json.dumps({"name": "broken", "scope": "{a: }"}),),
        )
    assert [s.name for s in await store.load_scopes()] == ["fed-c2"]
    await store.close()


async def test_the_cli_adds_lists_shows_removes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "reg.sqlite")

    async def cli(*argv: str) -> int:
        return await asyncio.to_thread(main, ["registry", "--db", db, "scope", *argv])

    assert await cli("add", "fed-c2", "{keystone: cloud-1; glance: cloud-2}") == 0
    assert "fed-c2 = identity: cloud-1; image: cloud-2" in capsys.readouterr().out
    assert await cli("list") == 0
    assert "fed-c2" in capsys.readouterr().out
    assert await cli("show", "fed-c2") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["scope"] == "{identity: cloud-1; image: cloud-2}"
    assert shown["url_segment"] == "identity:cloud-1;image:cloud-2"
    assert await cli("add", "bad", "glance: clod-2 |") == 1
    error = capsys.readouterr().err
    assert "expected a cloud after the operator" in error
    assert "  glance: clod-2 |\n                  ^" in error
    assert await cli("remove", "fed-c2") == 0
    assert await cli("remove", "fed-c2") == 1
    assert await SqliteNamedScopeStore(db).load_scopes() == []


async def test_postgres_changes_reach_a_follower() -> None:
    async with private_schema("ns") as dsn:
        # NOTIFY channels are per database, not per schema: a table name of this run's own
        # keeps the LISTEN session killed below ours, not another run's.
        clouds_table = f"clouds_{uuid.uuid4().hex[:12]}"
        writer = await PostgresNamedScopeStore(dsn, clouds_table).open()
        reader = await PostgresNamedScopeStore(dsn, clouds_table).open()
        scopes = NamedScopes()
        # No ping while the test runs: LISTEN stays the feed session's last query, to find it by.
        sync = NamedScopeSync(scopes, reader, heartbeat=60, backoff=Backoff(0.05, 0.2))
        try:
            await writer.upsert_scope(FED)
            await sync.start()  # loaded before it returns
            assert scopes.get("fed-c2") == FED and sync.health().state == "live"
            sync.applied.clear()
            await writer.upsert_scope(named_scope("fed-c3", "cloud-3"))
            await asyncio.wait_for(sync.applied.wait(), 5)
            assert "fed-c3" in scopes
            # The LISTEN session killed: the follower reconnects and reloads in full.
            conn = await connect()
            killed = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%' AND query LIKE $1",
                f"%{reader.tables.channel}%",
            )
            await conn.close()
            assert killed == 1
            sync.applied.clear()
            await writer.delete_scope("fed-c2")  # made while the feed may be down
            await asyncio.wait_for(sync.applied.wait(), 5)
            if "fed-c2" in scopes:  # the NOTIFY arrived before the loss was seen
                sync.applied.clear()
                await asyncio.wait_for(sync.applied.wait(), 5)
            assert "fed-c2" not in scopes and "fed-c3" in scopes
        finally:
            await sync.close()
            await writer.close()
            await reader.close()


async def test_a_scope_named_on_one_proxy_routes_on_another() -> None:
    """Two proxies of a fleet on one PostgreSQL: the admin API of one, the URL of the other."""
    async with private_schema("ns") as dsn:
        config = ProxyConfig(registry_dsn=dsn, admin_token="admin-secret")
        async with (
            running_proxy(config, Registry()) as first,
            running_proxy(config, Registry()) as second,
            aiohttp.ClientSession() as session,
        ):
            async with session.put(
                f"{first}/_openstackoid/admin/scopes/fed-c2",
                json={"scope": "keystone: cloud-1; glance: cloud-2"},
                headers={"X-Admin-Token": "admin-secret"},
            ) as resp:
                assert resp.status == 201, await resp.text()
            for _ in range(100):  # event-driven: each poll waits on the server's answer
                async with session.get(f"{second}/scope/fed-c2/image") as resp:
                    if resp.headers.get("X-Openstackoid-Scope-Source") == "url":
                        break
                    assert resp.status == 400
                await asyncio.sleep(0.05)
            assert resp.headers["X-Openstackoid-Scope"] == "{identity: cloud-1; image: cloud-2}"
            async with session.get(f"{second}/healthz") as resp:
                health = await resp.json()
            assert health["components"]["named_scopes"]["state"] == "live"
