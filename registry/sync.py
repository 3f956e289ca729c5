"""Keep an in-memory Registry in step with a shared PostgresStore."""

from __future__ import annotations

import asyncio

from registry.index import Registry
from registry.postgres import PostgresStore


class RegistrySync:
    """Loads every cloud once, then applies each NOTIFY'd change by reloading that row."""

    def __init__(self, registry: Registry, store: PostgresStore) -> None:
        self.registry = registry
        self.store = store
        self._tasks: set[asyncio.Task[None]] = set()
        self.applied = asyncio.Event()
        """Set after each applied change (lets tests and health checks observe propagation)."""

    async def start(self) -> None:
        for cloud in await self.store.load_all():
            self.registry.upsert(cloud)
        await self.store.watch(self._on_change)

    def _on_change(self, operation: str, name: str) -> None:
        task = asyncio.get_running_loop().create_task(self._apply(operation, name))
        self._tasks.add(task)  # keep a reference until done (GC footgun)
        task.add_done_callback(self._tasks.discard)

    async def _apply(self, operation: str, name: str) -> None:
        cloud = await self.store.get(name) if operation == "upsert" else None
        if cloud is not None:
            self.registry.upsert(cloud)
        elif name in self.registry:
            self.registry.remove(name)
        self.applied.set()
