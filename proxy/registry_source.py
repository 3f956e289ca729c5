"""Build the proxy's in-memory registry from the configured sources."""

from __future__ import annotations

from openstackoid.proxy.config import ProxyConfig
from openstackoid.registry import Registry, SqliteStore, load_clouds_yaml, load_registry_file


async def load_registry(config: ProxyConfig) -> Registry:
    """clouds.yaml, registry file and SQLite store, in that order (later ones win)."""
    registry = Registry()
    if config.clouds_yaml:
        for cloud in load_clouds_yaml(config.clouds_yaml):
            registry.upsert(cloud)
    if config.registry_file:
        for cloud in load_registry_file(config.registry_file):
            registry.upsert(cloud)
    if config.registry_db:
        store = SqliteStore(config.registry_db)
        for cloud in await store.load_all():
            registry.upsert(cloud)
        await store.close()
    # A PostgreSQL registry (registry_dsn) is loaded and followed by the app itself
    # (app.shared_registry), since its LISTEN connection lives on the serving loop.
    return registry
