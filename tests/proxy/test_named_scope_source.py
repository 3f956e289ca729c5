"""Where a proxy's named scopes come from: its registry's store, loaded or followed."""

from pathlib import Path

from openstackoid.proxy.config import ProxyConfig
from openstackoid.proxy.named_scope_source import named_scope_store, serve_named_scopes
from openstackoid.registry.health import HealthSource
from openstackoid.registry.named_scope_postgres import PostgresNamedScopeStore
from openstackoid.registry.named_scope_store import MemoryNamedScopeStore, SqliteNamedScopeStore
from openstackoid.registry.named_scopes import NamedScopes, named_scope


def test_the_store_is_the_registrys(tmp_path: Path) -> None:
    assert isinstance(named_scope_store(ProxyConfig()), MemoryNamedScopeStore)
    sqlite = named_scope_store(ProxyConfig(registry_db=str(tmp_path / "r.sqlite")))
    assert isinstance(sqlite, SqliteNamedScopeStore)
    dsn = "postgresql://nobody@127.0.0.1:1/none"
    assert isinstance(named_scope_store(ProxyConfig(registry_dsn=dsn)), PostgresNamedScopeStore)


async def test_a_sqlite_store_is_loaded_at_start(tmp_path: Path) -> None:
    writer = SqliteNamedScopeStore(tmp_path / "r.sqlite")
    await writer.upsert_scope(named_scope("fed-c2", "keystone: cloud-1; glance: cloud-2"))
    await writer.close()
    scopes = NamedScopes()
    health: dict[str, HealthSource] = {}
    serving = serve_named_scopes(scopes, SqliteNamedScopeStore(tmp_path / "r.sqlite"), health)
    await anext(serving)
    assert scopes.get("fed-c2").text == "{identity: cloud-1; image: cloud-2}"
    assert health == {}  # a local file has no link to lose
    await anext(serving, None)


async def test_an_unreachable_postgres_is_told_and_never_blocks_the_start() -> None:
    scopes = NamedScopes()
    health: dict[str, HealthSource] = {}
    store = PostgresNamedScopeStore("postgresql://nobody@127.0.0.1:1/none", timeout=1)
    serving = serve_named_scopes(scopes, store, health)
    await anext(serving)  # returns at once: the follower retries in the background
    assert health["named_scopes"]().state == "waiting" and len(scopes) == 0
    await anext(serving, None)
