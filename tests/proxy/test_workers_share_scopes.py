"""`openstackoid proxy --workers N`: the workers share the token scopes through Redis, and
refuse to start without a shared memory. (A port another process serves is refused by
tests/proxy/test_cli.py.)"""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from openstackoid.testbed import Testbed, admin_auth_body
from tests.proxy.test_cli import _health, _start_proxy

REDIS = "redis://127.0.0.1:6379/0"


@pytest_asyncio.fixture
async def redis_url() -> AsyncIterator[str]:
    """The shared Redis under a key prefix of this test's own, its keys deleted after."""
    client = aioredis.Redis.from_url(REDIS)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        pytest.skip(f"Redis not answering at {REDIS}: {exc}")
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    yield f"{REDIS}?key_prefix={prefix}"
    async for key in client.scan_iter(match=f"{prefix}*"):
        await client.delete(key)
    await client.aclose()


def _worker_of(resp: aiohttp.ClientResponse) -> str:
    """A request id's prefix is its worker's (proxy/request_ids.py)."""
    return resp.headers["X-Openstackoid-Request-Id"][:-12]


async def _both_workers_up(session: aiohttp.ClientSession, base: str) -> None:
    """Workers start one after the other: new connections until both have answered."""
    seen: set[str] = set()
    for _ in range(500):
        async with session.get(f"{base}/identity/v3") as resp:
            seen.add(_worker_of(resp))
        if len(seen) == 2:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the second worker never answered")


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), timeout=30) == 0


async def _run_to_exit(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "openstackoid.cli",
        "proxy",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_workers_without_a_shared_memory_refuse_to_start(
    testbed: Testbed, tmp_path: Path
) -> None:
    clouds_yaml = testbed.write_clouds_yaml(tmp_path / "clouds.yaml")
    code, err = await _run_to_exit("--clouds-yaml", str(clouds_yaml), "--workers", "2")
    assert code != 0
    assert "--scope-memory redis://" in err


async def test_a_scope_less_request_finds_the_scope_on_any_worker(
    testbed: Testbed, tmp_path: Path, redis_url: str
) -> None:
    """One request with X-Scope, then 30 without on new connections, which the kernel
    spreads over both workers: every one reaches the scoped cloud, none the default."""
    process, base = await _start_proxy(
        testbed,
        tmp_path,
        "--default-scope",
        "{*: cloud-1}",
        "--workers",
        "2",
        "--scope-memory",
        redis_url,
        fleet_rules=True,
    )
    try:
        connector = aiohttp.TCPConnector(force_close=True)  # a new connection each time
        async with aiohttp.ClientSession(connector=connector) as session:
            await _health(session, base)
            await _both_workers_up(session, base)
            scope = "{keystone: cloud-1; glance: cloud-3}"
            async with session.post(
                f"{base}/identity/v3/auth/tokens",
                json=admin_auth_body(testbed.cloud("cloud-1")),
                headers={"X-Scope": scope},
            ) as resp:
                assert resp.status == 201
                token = resp.headers["X-Subject-Token"]
            async with session.get(
                f"{base}/image/v2/images", headers={"X-Auth-Token": token, "X-Scope": scope}
            ) as resp:
                assert resp.status == 200
            workers = set()
            for _ in range(30):
                async with session.get(
                    f"{base}/image/v2/images", headers={"X-Auth-Token": token}
                ) as resp:
                    assert resp.status == 200, await resp.text()
                    workers.add(_worker_of(resp))
            assert len(workers) == 2  # both workers answered
        images = [r for r in testbed.requests("cloud-3") if r.path == "/image/v2/images"]
        assert len(images) == 31  # the scoped request, then the 30 scope-less ones
        assert not [r for r in images if "x-scope" in r.header_names]  # never sent to clouds
        assert not [r for r in testbed.requests("cloud-1") if r.path.startswith("/image")]
    finally:
        await _stop(process)
