"""SIGHUP: the registry's sources read again and applied to the running Registry."""

from __future__ import annotations

import asyncio
import gc
import logging

import yaml

from openstackoid_cli import describe_error
from proxy.config import ProxyConfig
from proxy.default_scope_check import unknown_default_clouds
from proxy.registry_source import load_registry
from registry import Registry, RegistryError
from registry.reload import reload_registry

log = logging.getLogger("openstackoid.proxy")


class Reloader:
    """SIGHUP: read the registry's sources again and apply the difference in place."""

    def __init__(self, config: ProxyConfig, registry: Registry) -> None:
        self.config = config
        self.registry = registry
        self.sourced = frozenset(registry.names())
        self._tasks: set[asyncio.Task[None]] = set()

    def request(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload())
        self._tasks.add(task)  # keep a reference until done (GC footgun)
        task.add_done_callback(self._tasks.discard)

    async def reload(self) -> None:
        try:
            # Off the serving loop: a clouds.yaml of 10,000 clouds takes seconds to read,
            # and requests keep flowing meanwhile.
            fresh = await asyncio.to_thread(asyncio.run, load_registry(self.config))
        except (OSError, RegistryError, yaml.YAMLError) as exc:
            log.error(
                "SIGHUP: registry NOT reloaded, still serving the previous one: %s",
                describe_error(exc),
            )
            return
        result = reload_registry(self.registry, fresh, self.sourced)
        self.sourced = result.sourced
        del fresh
        gc.collect()
        gc.freeze()  # the new clouds join the old ones out of the cyclic GC's sight
        log.info("SIGHUP: registry reloaded: %s; %d clouds", result, len(self.registry))
        for problem in unknown_default_clouds(self.config, self.registry):
            log.warning("the default scope names a cloud no longer registered: %s", problem)
