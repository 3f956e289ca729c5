"""`openstackoid proxy --workers N`: the workers share the token scopes through Redis, and
refuse to start without a shared memory. (A port another process serves is refused by
tests/proxy/test_cli.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest_asyncio

from openstackoid.testbed import Testbed, admin_auth_body
from tests.processes import all_workers_answer, health, stop, worker_of
from tests.proxy.test_cli import _run_cli, _start_proxy
from tests.redis_prefix import private_prefix, scope_memory_url


@pytest_asyncio.fixture
async def redis_url() -> AsyncIterator[str]:
    async with private_prefix() as prefix:
        yield scope_memory_url(prefix)


async def _run_to_exit(*args: str) -> tuple[int, str]:
    return await _run_cli("proxy", *args)


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
            await health(session, base)
            await all_workers_answer(base)
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
                    workers.add(worker_of(resp))
            assert len(workers) == 2  # both workers answered
        images = [r for r in testbed.requests("cloud-3") if r.path == "/image/v2/images"]
        assert len(images) == 31  # the scoped request, then the 30 scope-less ones
        assert not [r for r in images if "x-scope" in r.header_names]  # never sent to clouds
        assert not [r for r in testbed.requests("cloud-1") if r.path.startswith("/image")]
    finally:
        assert await stop(process) == 0
