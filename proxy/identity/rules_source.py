"""The mapping rules in force: read at start from the configured sources, persisted where
the admin API writes, followed across a fleet through PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from openstackoid.proxy.config import ProxyConfig
from openstackoid.registry import Registry, RuleBook, load_rules_file
from openstackoid.registry.errors import InvalidRuleError
from openstackoid.registry.health import HealthSource
from openstackoid.registry.mapping import problems
from openstackoid.registry.rule_store import MemoryRuleStore, RuleStore, SqliteRuleStore
from openstackoid.registry.rule_store_postgres import PostgresRuleStore, RuleFollower
from openstackoid.registry.rules import MappingRule, TargetCredential

log = logging.getLogger("openstackoid.proxy")


async def load_rules(config: ProxyConfig, registry: Registry) -> RuleBook:
    """clouds.yaml, registry file and SQLite store, in that order (later ones win, by rule
    name and by credential). A credential that is a cloud's own registered account stops
    the start; other problems are logged (their rules deny until fixed)."""
    rules: dict[str, MappingRule] = {}
    credentials: dict[tuple[str, str], TargetCredential] = {}
    sources = [load_rules_file(path) for path in (config.clouds_yaml, config.registry_file) if path]
    if config.registry_db:
        store = SqliteRuleStore(config.registry_db)
        sources.append(await store.load())
        await store.close()
    for source in sources:
        rules.update((r.name, r) for r in source.rules)
        credentials.update((c.key, c) for c in source.credentials)
    book = RuleBook(rules.values(), credentials.values())
    for problem in problems(book, registry):
        if "is the account the cloud is registered with" in problem:
            raise InvalidRuleError(problem)
        log.warning("mapping rules: %s", problem)
    return book


def rule_store_for(config: ProxyConfig) -> RuleStore:
    """Where admin API changes to rules persist: beside the clouds."""
    if config.registry_dsn:
        return PostgresRuleStore(config.registry_dsn)
    if config.registry_db:
        return SqliteRuleStore(config.registry_db)
    return MemoryRuleStore()


@asynccontextmanager
async def shared_rules(
    book: RuleBook, store: RuleStore, health: dict[str, HealthSource] | None = None
) -> AsyncIterator[None]:
    """A fleet's rules: loaded from PostgreSQL, every NOTIFY'd change applied, the follower's
    state reported as `mapping_rules` in `health`; other stores are closed at the end."""
    follower = RuleFollower(book, store) if isinstance(store, PostgresRuleStore) else None
    if follower is not None:
        if health is not None:
            health["mapping_rules"] = follower.health
        await follower.start()
    try:
        yield
    finally:
        if follower is not None:
            await follower.close()
        await store.close()
