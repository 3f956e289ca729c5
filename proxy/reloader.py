"""SIGHUP: the registry's sources read again and applied to the running Registry."""

from __future__ import annotations

import asyncio
import gc
import logging

import yaml

from openstackoid.cli import describe_error
from openstackoid.proxy.config import ProxyConfig
from openstackoid.proxy.default_scope_check import unknown_default_clouds
from openstackoid.proxy.identity.rules_source import load_rules
from openstackoid.proxy.registry_source import load_registry
from openstackoid.registry import Registry, RegistryError, RuleBook
from openstackoid.registry.reload import reload_registry

log = logging.getLogger("openstackoid.proxy")


class Reloader:
    """SIGHUP: read the registry's sources again and apply the difference in place."""

    def __init__(
        self, config: ProxyConfig, registry: Registry, rules: RuleBook | None = None
    ) -> None:
        self.config = config
        self.registry = registry
        self.sourced = frozenset(registry.names())
        self.rules = rules if rules is not None else RuleBook()
        self.sourced_rules = frozenset(r.name for r in self.rules.rules())
        self.sourced_credentials = frozenset(c.key for c in self.rules.credentials())
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
        await self.reload_rules()

    async def reload_rules(self) -> None:
        """The mapping rules of the same sources, applied in place: rules and credentials
        gone from them go, those added through the admin API alone stay."""
        try:
            fresh = await load_rules(self.config, self.registry)
        except (OSError, RegistryError, yaml.YAMLError) as exc:
            log.error("mapping rules NOT reloaded, the previous ones stay: %s", exc)
            return
        names = {r.name for r in fresh.rules()}
        keys = {c.key for c in fresh.credentials()}
        for name in self.sourced_rules - names:
            self.rules.remove_rule(name)
        for cloud, name in self.sourced_credentials - keys:
            self.rules.remove_credential(cloud, name)
        for rule in fresh.rules():
            self.rules.upsert_rule(rule)
        for credential in fresh.credentials():
            self.rules.upsert_credential(credential)
        self.sourced_rules, self.sourced_credentials = frozenset(names), frozenset(keys)
        log.info("mapping rules reloaded: %d in force", len(self.rules))
