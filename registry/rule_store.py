"""Where mapping rules and target credentials persist, beside the clouds (new tables).

Rows hold the rule or credential in its file form, so a stored row is validated again on
load like any other input.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from openstackoid.registry.rules import (
    MappingRule,
    TargetCredential,
    credential_from_data,
    rule_from_data,
)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Everything a store holds."""

    rules: tuple[MappingRule, ...] = ()
    credentials: tuple[TargetCredential, ...] = ()


RuleChangeCallback = Callable[[str, str, str], None]
"""Called with (kind, operation, key): kind "rule" or "credential", operation "upsert" or
"delete", key the rule name or `cloud/name` of a credential."""


class RuleStore(Protocol):
    async def load(self) -> RuleSet: ...

    async def upsert_rule(self, rule: MappingRule) -> None: ...

    async def delete_rule(self, name: str) -> bool: ...

    async def upsert_credential(self, credential: TargetCredential) -> None: ...

    async def delete_credential(self, cloud: str, name: str) -> bool: ...

    async def close(self) -> None: ...


def rule_row(rule: MappingRule) -> str:
    return json.dumps(rule.to_data())


def credential_row(credential: TargetCredential) -> str:
    return json.dumps(credential.to_data(with_secrets=True))


def load_rule_row(data: str, where: str) -> MappingRule:
    return rule_from_data(json.loads(data), where)


def load_credential_row(data: str, where: str) -> TargetCredential:
    return credential_from_data(json.loads(data), where)


class MemoryRuleStore:
    """No persistence: rules live as long as the process."""

    def __init__(self) -> None:
        self._rules: dict[str, MappingRule] = {}
        self._credentials: dict[tuple[str, str], TargetCredential] = {}

    async def load(self) -> RuleSet:
        return RuleSet(tuple(self._rules.values()), tuple(self._credentials.values()))

    async def upsert_rule(self, rule: MappingRule) -> None:
        self._rules[rule.name] = rule

    async def delete_rule(self, name: str) -> bool:
        return self._rules.pop(name, None) is not None

    async def upsert_credential(self, credential: TargetCredential) -> None:
        self._credentials[credential.key] = credential

    async def delete_credential(self, cloud: str, name: str) -> bool:
        return self._credentials.pop((cloud, name), None) is not None

    async def close(self) -> None:
        return None


class SqliteRuleStore:
    """Rules and credentials in the registry's SQLite file (tables of their own). Inline
    calls, as SqliteStore: sub-millisecond on a local file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        with self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS mapping_rules (name TEXT PRIMARY KEY, data TEXT)"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS target_credentials "
                "(cloud TEXT, name TEXT, data TEXT, PRIMARY KEY (cloud, name))"
            )

    async def load(self) -> RuleSet:
        where = f"{self.path}: table mapping_rules"
        rules = self._db.execute("SELECT data FROM mapping_rules ORDER BY rowid").fetchall()
        creds = self._db.execute("SELECT data FROM target_credentials ORDER BY rowid").fetchall()
        return RuleSet(
            tuple(load_rule_row(data, where) for (data,) in rules),
            tuple(
                load_credential_row(data, f"{self.path}: table target_credentials")
                for (data,) in creds
            ),
        )

    async def upsert_rule(self, rule: MappingRule) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO mapping_rules (name, data) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET data = excluded.data",
                (rule.name, rule_row(rule)),
            )

    async def delete_rule(self, name: str) -> bool:
        with self._db:
            cursor = self._db.execute("DELETE FROM mapping_rules WHERE name = ?", (name,))
        return cursor.rowcount > 0

    async def upsert_credential(self, credential: TargetCredential) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO target_credentials (cloud, name, data) VALUES (?, ?, ?) "
                "ON CONFLICT(cloud, name) DO UPDATE SET data = excluded.data",
                (credential.cloud, credential.name, credential_row(credential)),
            )

    async def delete_credential(self, cloud: str, name: str) -> bool:
        with self._db:
            cursor = self._db.execute(
                "DELETE FROM target_credentials WHERE cloud = ? AND name = ?", (cloud, name)
            )
        return cursor.rowcount > 0

    async def close(self) -> None:
        self._db.close()
