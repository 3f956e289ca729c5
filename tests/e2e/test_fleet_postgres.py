"""Two proxies of a fleet share one PostgreSQL registry: a cloud added or removed through one
proxy's admin API is routed (or refused) by the other without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from openstackoid.proxy import ProxyConfig, running_proxy
from openstackoid.registry import Registry, load_clouds_yaml
from openstackoid.registry.postgres import PostgresStore
from openstackoid.testbed import Testbed, admin_auth_body
from openstackoid.testbed.pytest_plugin import TestbedFactory
from tests.pg import private_schema

ADMIN = "fleet-admin-token"

pytestmark = pytest.mark.postgres


@pytest_asyncio.fixture
async def fleet_dsn() -> AsyncIterator[str]:
    """A schema of this test's own, dropped after (tests/pg.py)."""
    async with private_schema("fleet") as dsn:
        yield dsn


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_cloud_added_through_one_proxy_is_routed_by_the_other(
    make_testbed: TestbedFactory, tmp_path: Path, fleet_dsn: str
) -> None:
    bed = await make_testbed(clouds=2, shared_identity=True)
    cloud_1, cloud_2 = load_clouds_yaml(bed.write_clouds_yaml(tmp_path / "clouds.yaml"))
    seed = await PostgresStore(fleet_dsn).open()
    await seed.upsert(cloud_1)  # the fleet starts knowing cloud-1 only
    await seed.close()
    config = ProxyConfig(
        registry_dsn=fleet_dsn,
        registry_snapshot=str(tmp_path / "snapshot.json"),
        admin_token=ADMIN,
        identity_strategy="passthrough",
    )
    async with AsyncExitStack() as stack:
        proxy_a = await stack.enter_async_context(running_proxy(config, Registry()))
        proxy_b = await stack.enter_async_context(running_proxy(config, Registry()))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        token = await _token(session, proxy_b, bed)
        scope = "{keystone: cloud-1; glance: cloud-2}"
        headers = {"X-Auth-Token": token, "X-Scope": scope}

        async def status_at_b() -> int:
            async with session.get(f"{proxy_b}/image/v2/images", headers=headers) as resp:
                await resp.read()
                return resp.status

        assert await status_at_b() == 400  # cloud-2 is unknown to the fleet

        admin = {"X-Admin-Token": ADMIN}
        body = cloud_2.to_dict(with_secrets=True)
        async with session.put(
            f"{proxy_a}/_openstackoid/admin/clouds/cloud-2", json=body, headers=admin
        ) as resp:
            assert resp.status == 201, await resp.text()

        async def routed() -> bool:
            return await status_at_b() == 200

        assert await _eventually(routed), "proxy B never learnt cloud-2"
        assert any(r.path == "/image/v2/images" for r in bed.requests("cloud-2"))

        async with session.delete(
            f"{proxy_a}/_openstackoid/admin/clouds/cloud-2", headers=admin
        ) as resp:
            assert resp.status in (200, 204), await resp.text()

        async def refused() -> bool:
            return await status_at_b() == 400

        assert await _eventually(refused), "proxy B still routes to a removed cloud"


async def _token(session: aiohttp.ClientSession, proxy: str, bed: Testbed) -> str:
    body = admin_auth_body(bed.cloud("cloud-1"))
    headers = {"X-Scope": "{*: cloud-1}"}
    async with session.post(f"{proxy}/identity/v3/auth/tokens", json=body, headers=headers) as r:
        assert r.status == 201, await r.text()
        return r.headers["X-Subject-Token"]
