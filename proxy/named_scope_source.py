"""The proxy's named scopes: loaded from the registry's store at start, and followed there
when the store is a fleet's PostgreSQL (registry/named_scope_postgres.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from openstackoid.proxy.config import ProxyConfig
from openstackoid.registry.health import HealthSource
from openstackoid.registry.named_scope_postgres import NamedScopeSync, PostgresNamedScopeStore
from openstackoid.registry.named_scope_store import (
    MemoryNamedScopeStore,
    NamedScopeStore,
    SqliteNamedScopeStore,
)
from openstackoid.registry.named_scopes import NamedScopes


def named_scope_store(config: ProxyConfig) -> NamedScopeStore:
    """Beside the clouds: where admin API changes persist."""
    if config.registry_dsn:
        return PostgresNamedScopeStore(config.registry_dsn)
    if config.registry_db:
        return SqliteNamedScopeStore(config.registry_db)
    return MemoryNamedScopeStore()


async def serve_named_scopes(
    scopes: NamedScopes, store: NamedScopeStore, health: dict[str, HealthSource]
) -> AsyncIterator[None]:
    """A cleanup_ctx body: load (or follow) while the app runs, close the store after."""
    sync = None
    if isinstance(store, PostgresNamedScopeStore):
        sync = NamedScopeSync(scopes, store)
        health["named_scopes"] = sync.health
        await sync.start()
    else:
        scopes.replace_all(await store.load_scopes())
    try:
        yield
    finally:
        if sync is not None:
            await sync.close()
        await store.close()
