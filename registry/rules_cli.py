"""The mapping rules side of `openstackoid registry`: import with the clouds, list, check."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from openstackoid.registry.errors import InvalidRuleError
from openstackoid.registry.grant import grant, grant_rule
from openstackoid.registry.index import Registry
from openstackoid.registry.mapping import RuleBook, problems
from openstackoid.registry.model import Cloud
from openstackoid.registry.rule_store import RuleSet, RuleStore, SqliteRuleStore
from openstackoid.registry.rule_store_postgres import PostgresRuleStore
from openstackoid.registry.rules_file import load_rules_file

console = Console()


async def open_rule_store(args: argparse.Namespace, default_db: Path) -> RuleStore:
    """The rule store beside the clouds: the same SQLite file or PostgreSQL database."""
    if args.dsn:
        return await PostgresRuleStore(args.dsn).open()
    return SqliteRuleStore(args.db or os.environ.get("OPENSTACKOID_REGISTRY") or default_db)


def check_rules(rules: RuleSet, clouds: list[Cloud]) -> None:
    """Refuse rules that could never hold or that hand out a cloud's own operator account."""
    found = problems(RuleBook(rules.rules, rules.credentials), Registry(clouds))
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise InvalidRuleError(f"{found[0]}{more}")


def read_rules(path: Path, clouds: list[Cloud]) -> RuleSet:
    """A file's rules and credentials, checked against `clouds` (every cloud the registry
    will hold): read before anything is written, so a bad file changes nothing."""
    rules = load_rules_file(path)
    if rules.rules or rules.credentials:
        check_rules(rules, clouds)
    return rules


async def store_rules(store: RuleStore, rules: RuleSet) -> int:
    for credential in rules.credentials:
        await store.upsert_credential(credential)
    for rule in rules.rules:
        await store.upsert_rule(rule)
    return len(rules.rules) + len(rules.credentials)


async def list_rules(store: RuleStore) -> int:
    loaded = await store.load()
    table = Table("Priority", "Rule", "Issuer", "Match", "Targets", "Acts as")
    for rule in RuleBook(loaded.rules).rules():
        data: dict[str, Any] = rule.to_data()
        match = {k: v for k, v in data["match"].items() if k != "issuer"}
        acts_as = rule.credential if rule.action == "map" else rule.action
        table.add_row(
            str(rule.priority),
            rule.name,
            ", ".join(data["match"]["issuer"]),
            ", ".join(f"{k}={v}" for k, v in match.items()),
            ", ".join(data["targets"]),
            acts_as or "",
        )
    console.print(table)
    for credential in loaded.credentials:
        console.print(f"credential {credential.identity}")
    return 0


async def grant_command(store: RuleStore, clouds: list[Cloud], args: argparse.Namespace) -> int:
    """Create the rule's target credentials at every cloud it covers, then store them and
    the rule (nothing is stored if a cloud refuses)."""
    rule = grant_rule(args.name, args.issuer or ["*"], args.match_role, args.target)
    credentials = await grant(rule, clouds, args.role)
    for credential in credentials:
        await store.upsert_credential(credential)
    await store.upsert_rule(rule)
    console.print(
        f"rule {rule.name!r}: {len(credentials)} application credentials with roles "
        f"{', '.join(args.role)} registered"
    )
    return 0
