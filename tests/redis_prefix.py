"""The machine's Redis for tests: a key prefix of each test's own, its keys deleted after.

A Redis that does not answer skips the tests on a workstation and fails them in CI
(`CI=true`), as tests/pg.py does for PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis

from openstackoid.scratch import scratch_prefix, with_key_prefix

REDIS = os.environ.get("OPENSTACKOID_TEST_REDIS", "redis://127.0.0.1:6379/0")


@asynccontextmanager
async def private_prefix(name: str = "test") -> AsyncIterator[str]:
    """A key prefix no other run uses (``name-<random>:``); every key under it is deleted
    after, whatever the test left."""
    client = aioredis.Redis.from_url(REDIS)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        reason = f"Redis not answering at {REDIS}: {exc}"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"{reason} (CI=true: Redis must answer)", pytrace=False)
        pytest.skip(reason)
    finally:
        await client.aclose()
    async with scratch_prefix(REDIS, name) as prefix:
        yield prefix


def scope_memory_url(prefix: str, url: str = REDIS) -> str:
    """`--scope-memory` for a Redis under `prefix`."""
    return with_key_prefix(url, prefix)
