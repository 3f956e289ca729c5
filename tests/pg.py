"""The machine's PostgreSQL for tests: a schema of each test's own, dropped after.

A server that does not answer skips the tests on a workstation, and fails them in CI
(`CI=true`), where a silent skip would hide that nothing was tested.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from openstackoid.scratch import scratch_schema

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
    await (await connect()).close()  # skips, or fails in CI, when the server is not there
    async with scratch_schema(DSN, prefix) as dsn:
        yield dsn


def through(dsn: str, port: int) -> str:
    """`dsn` reaching its server through a relay listening on 127.0.0.1:`port`."""
    parts = urlsplit(dsn)
    credentials, _, _ = parts.netloc.rpartition("@")
    user = f"{credentials}@" if credentials else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


def server_address(dsn: str) -> tuple[str, int]:
    parts = urlsplit(dsn)
    return parts.hostname or "127.0.0.1", parts.port or 5432
