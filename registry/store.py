"""Where registered clouds persist: embedded SQLite by default, PostgreSQL for a fleet."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from openstackoid.registry.model import Cloud

ChangeCallback = Callable[[str, str], None]
"""Called with (operation, cloud name); operation is "upsert" or "delete"."""


class Store(Protocol):
    """The persistence contract every backend meets. A store that cannot be reached raises
    StoreUnavailableError, having written nothing it confirmed."""

    async def load_all(self) -> list[Cloud]: ...

    async def get(self, name: str) -> Cloud | None: ...

    async def upsert(self, cloud: Cloud) -> None: ...

    async def upsert_many(self, clouds: Iterable[Cloud]) -> int: ...

    async def delete(self, name: str) -> bool: ...

    async def close(self) -> None: ...


class SqliteStore:
    """One process's registry in a SQLite file.

    sqlite3 calls are sub-millisecond on a local file, so they run inline: a thread hop
    would cost more than the call itself.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS clouds (name TEXT PRIMARY KEY, data TEXT)")
        self._db.commit()

    async def load_all(self) -> list[Cloud]:
        rows = self._db.execute("SELECT data FROM clouds ORDER BY rowid").fetchall()
        return [Cloud.from_dict(json.loads(data)) for (data,) in rows]

    async def get(self, name: str) -> Cloud | None:
        row = self._db.execute("SELECT data FROM clouds WHERE name = ?", (name,)).fetchone()
        return Cloud.from_dict(json.loads(row[0])) if row else None

    async def upsert(self, cloud: Cloud) -> None:
        await self.upsert_many((cloud,))

    async def upsert_many(self, clouds: Iterable[Cloud]) -> int:
        rows = [(c.name, json.dumps(c.to_dict(with_secrets=True))) for c in clouds]
        with self._db:
            self._db.executemany(
                "INSERT INTO clouds (name, data) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET data = excluded.data",
                rows,
            )
        return len(rows)

    async def delete(self, name: str) -> bool:
        with self._db:
            cursor = self._db.execute("DELETE FROM clouds WHERE name = ?", (name,))
        return cursor.rowcount > 0

    async def close(self) -> None:
        self._db.close()


class MemoryStore:
    """No persistence: changes live as long as the process (a proxy without a database)."""

    def __init__(self) -> None:
        self._clouds: dict[str, Cloud] = {}

    async def load_all(self) -> list[Cloud]:
        return list(self._clouds.values())

    async def get(self, name: str) -> Cloud | None:
        return self._clouds.get(name)

    async def upsert(self, cloud: Cloud) -> None:
        self._clouds[cloud.name] = cloud

    async def upsert_many(self, clouds: Iterable[Cloud]) -> int:
        count = 0
        for cloud in clouds:
            self._clouds[cloud.name] = cloud
            count += 1
        return count

    async def delete(self, name: str) -> bool:
        return self._clouds.pop(name, None) is not None

    async def close(self) -> None:
        return None
