"""Where named scopes persist, beside the clouds: the same SQLite file (its own table), the
same PostgreSQL database (registry/named_scope_postgres.py), or memory only.

Rows hold the scope's JSON form; a stored row is checked again on load like any input, and
one that no longer parses is skipped with a warning rather than stopping the proxy.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from openstackoid.registry.named_scopes import (
    InvalidNamedScopeError,
    NamedScope,
    named_scope_from_dict,
)

log = logging.getLogger("openstackoid.registry")


class NamedScopeStore(Protocol):
    """A store that cannot be reached raises StoreUnavailableError, having written nothing."""

    async def load_scopes(self) -> list[NamedScope]: ...

    async def upsert_scope(self, scope: NamedScope) -> None: ...

    async def delete_scope(self, name: str) -> bool: ...

    async def close(self) -> None: ...


def scope_row(scope: NamedScope) -> str:
    return json.dumps(scope.to_dict())


def scopes_of(rows: Iterable[tuple[str, str]]) -> list[NamedScope]:
    """(name, JSON) rows as named scopes; a row that does not check is skipped, told."""
    scopes = []
    for name, data in rows:
        try:
            scopes.append(named_scope_from_dict(json.loads(data)))
        except (InvalidNamedScopeError, ValueError, AttributeError) as exc:
            log.warning("registry: skipping the stored named scope %r: %s", name, exc)
    return scopes


class MemoryNamedScopeStore:
    def __init__(self) -> None:
        self._scopes: dict[str, NamedScope] = {}

    async def load_scopes(self) -> list[NamedScope]:
        return list(self._scopes.values())

    async def upsert_scope(self, scope: NamedScope) -> None:
        self._scopes[scope.name] = scope

    async def delete_scope(self, name: str) -> bool:
        return self._scopes.pop(name, None) is not None

    async def close(self) -> None:
        return None


class SqliteNamedScopeStore:
    """Table `named_scopes` in the registry's SQLite file (calls are sub-millisecond: inline,
    as in SqliteStore)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS named_scopes (name TEXT PRIMARY KEY, data TEXT)"
        )
        self._db.commit()

    async def load_scopes(self) -> list[NamedScope]:
        rows = self._db.execute("SELECT name, data FROM named_scopes ORDER BY rowid").fetchall()
        return scopes_of(rows)

    async def upsert_scope(self, scope: NamedScope) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO named_scopes (name, data) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET data = excluded.data",
                (scope.name, scope_row(scope)),
            )

    async def delete_scope(self, name: str) -> bool:
        with self._db:
            cursor = self._db.execute("DELETE FROM named_scopes WHERE name = ?", (name,))
        return cursor.rowcount > 0

    async def close(self) -> None:
        self._db.close()
