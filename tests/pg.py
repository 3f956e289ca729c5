"""The machine's PostgreSQL for tests: a schema of each test's own, dropped after.

A server that does not answer skips the tests on a workstation, and fails them in CI
(`CI=true`), where a silent skip would hide that nothing was tested.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

DSN = os.environ.get("OPENSTACKOID_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def no_postgres(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{reason} (CI=true: PostgreSQL must answer)", pytrace=False)
    pytest.skip(reason)


async def connect() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(DSN, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        no_postgres(f"PostgreSQL not answering at {DSN}: {exc}")


@asynccontextmanager
async def private_schema(prefix: str = "t") -> AsyncIterator[str]:
    """A DSN whose search_path is a new schema: runs sharing the server never see each
    other's tables. (NOTIFY channels are per database: a stray change notice only makes a
    proxy re-read a row from its own schema.)"""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await connect()
    await conn.execute(f"CREATE SCHEMA {schema}")
    await conn.close()
    try:
        yield f"{DSN}{'&' if '?' in DSN else '?'}search_path={schema}"
    finally:
        conn = await connect()
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


def through(dsn: str, port: int) -> str:
    """`dsn` reaching its server through a relay listening on 127.0.0.1:`port`."""
    parts = urlsplit(dsn)
    credentials, _, _ = parts.netloc.rpartition("@")
    user = f"{credentials}@" if credentials else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


def server_address(dsn: str) -> tuple[str, int]:
    parts = urlsplit(dsn)
    return parts.hostname or "127.0.0.1", parts.port or 5432
