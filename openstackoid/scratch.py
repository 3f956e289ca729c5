"""A corner of a shared server for one run: a PostgreSQL schema and a Redis key prefix of its
own, dropped after. The real-cloud demo's fleet and the tests share the machine's servers
with other runs; none may see, or leave behind, another's tables or keys."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import redis.asyncio as aioredis

CONNECT_SECONDS = 3


@asynccontextmanager
async def scratch_schema(dsn: str, name: str) -> AsyncIterator[str]:
    """`dsn` with its search_path set to a new schema ``<name>_<random>``, dropped (with what
    it holds) on the way out. Connection errors reach the caller: it says what to do."""
    schema = f"{name}_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(dsn, timeout=CONNECT_SECONDS)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
    finally:
        await conn.close()
    try:
        yield f"{dsn}{'&' if '?' in dsn else '?'}search_path={schema}"
    finally:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_SECONDS)
        try:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            await conn.close()


@asynccontextmanager
async def scratch_prefix(url: str, name: str) -> AsyncIterator[str]:
    """A key prefix ``<name>-<random>:`` no other run uses; every key under it is deleted on
    the way out, whatever was left. Redis must answer first (its error reaches the caller)."""
    client = aioredis.Redis.from_url(url, socket_connect_timeout=CONNECT_SECONDS)
    try:
        await client.ping()
        prefix = f"{name}-{secrets.token_hex(6)}:"
        try:
            yield prefix
        finally:
            async for key in client.scan_iter(match=f"{prefix}*"):
                await client.delete(key)
    finally:
        await client.aclose()


def with_key_prefix(url: str, prefix: str) -> str:
    """The proxy's `--scope-memory` for a Redis at `url` under `prefix`."""
    return f"{url}{'&' if '?' in url else '?'}key_prefix={prefix}"
