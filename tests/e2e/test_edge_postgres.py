"""An edge proxy whose link to the fleet's PostgreSQL registry is cut, stalled and restored
(tests/faultline.py between it and the shared server): it keeps serving, says so on
/healthz and /metrics, refuses admin writes it cannot make, and converges once the link is
back. Proxy A, at the centre, reaches PostgreSQL directly."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from openstackoid.proxy import ProxyConfig, running_proxy
from openstackoid.registry import Cloud, Registry, load_clouds_yaml
from openstackoid.registry.postgres import PostgresStore
from openstackoid.testbed.pytest_plugin import TestbedFactory
from tests.faultline import Faultline
from tests.pg import private_schema, server_address, through

ADMIN = "edge-admin-token"
SCOPE_1 = "{keystone: cloud-1; glance: cloud-1}"
SCOPE_2 = "{keystone: cloud-1; glance: cloud-2}"

pytestmark = pytest.mark.postgres


@dataclass
class Site:
    dsn: str
    line: Faultline
    cloud_1: Cloud
    cloud_2: Cloud
    tmp_path: Path

    def config(self, *, edge: bool, snapshot: str = "snapshot.json") -> ProxyConfig:
        return ProxyConfig(
            registry_dsn=through(self.dsn, self.line.port) if edge else self.dsn,
            registry_snapshot=str(self.tmp_path / f"{'edge' if edge else 'centre'}-{snapshot}"),
            admin_token=ADMIN,
            identity_strategy="passthrough",
        )


@pytest_asyncio.fixture
async def site(make_testbed: TestbedFactory, tmp_path: Path) -> AsyncIterator[Site]:
    bed = await make_testbed(clouds=2, shared_identity=True)
    cloud_1, cloud_2 = load_clouds_yaml(bed.write_clouds_yaml(tmp_path / "clouds.yaml"))
    async with private_schema("edge") as dsn:
        seed = await PostgresStore(dsn).open()
        # The fleet starts knowing cloud-1, and "doomed", to be deleted during an outage.
        await seed.upsert_many([cloud_1, Cloud("doomed", cloud_1.auth_url)])
        await seed.close()
        line = await Faultline.open(*server_address(dsn))
        try:
            yield Site(dsn, line, cloud_1, cloud_2, tmp_path)
        finally:
            await line.close()


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> float:
    """Seconds until `check()` held; TimeoutError after `seconds`."""
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def poll() -> None:
        while not await check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), seconds)
    return loop.time() - started


class Client:
    def __init__(self, session: aiohttp.ClientSession, proxy: str, issuer: Cloud) -> None:
        self.session = session
        self.proxy = proxy
        self.issuer = issuer
        """The cloud whose Keystone the client logs in at, with its own credentials."""
        self.token = ""

    async def login(self) -> None:
        url = f"{self.proxy}/identity/v3/auth/tokens"
        assert self.issuer.credentials is not None
        body = self.issuer.credentials.keystone_auth_body()
        async with self.session.post(url, json=body, headers={"X-Scope": "{*: cloud-1}"}) as r:
            assert r.status == 201, await r.text()
            self.token = r.headers["X-Subject-Token"]

    async def images_status(self, scope: str) -> int:
        headers = {"X-Auth-Token": self.token, "X-Scope": scope}
        async with self.session.get(f"{self.proxy}/image/v2/images", headers=headers) as r:
            await r.read()
            return r.status

    async def health(self) -> tuple[int, dict[str, Any]]:
        async with self.session.get(f"{self.proxy}/healthz") as r:
            return r.status, await r.json()

    async def metrics(self) -> str:
        async with self.session.get(f"{self.proxy}/metrics") as r:
            return await r.text()

    async def admin(self, method: str, name: str, body: Any = None) -> tuple[int, Any]:
        url = f"{self.proxy}/_openstackoid/admin/clouds/{name}"
        headers = {"X-Admin-Token": ADMIN}
        async with self.session.request(method, url, json=body, headers=headers) as r:
            return r.status, (await r.json() if r.content_type == "application/json" else None)

    async def put_rule(self, name: str) -> tuple[int, Any]:
        url = f"{self.proxy}/_openstackoid/admin/mapping-rules/{name}"
        rule = {"match": {"issuer": "cloud-1"}, "targets": ["cloud-1"], "credential": "c"}
        async with self.session.put(url, json=rule, headers={"X-Admin-Token": ADMIN}) as r:
            return r.status, await r.json()


async def _routes(client: Client, scope: str) -> bool:
    return await client.images_status(scope) == 200


async def _healthy(client: Client) -> bool:
    return (await client.health())[1]["status"] == "ok"


async def test_cut_off_edge_serves_tells_refuses_writes_and_converges_on_restore(
    site: Site,
) -> None:
    edge_registry = Registry()
    async with AsyncExitStack() as stack:
        centre_url = await stack.enter_async_context(
            running_proxy(site.config(edge=False), Registry())
        )
        edge_url = await stack.enter_async_context(
            running_proxy(site.config(edge=True), edge_registry)
        )
        session = await stack.enter_async_context(aiohttp.ClientSession())
        centre = Client(session, centre_url, site.cloud_1)
        edge = Client(session, edge_url, site.cloud_1)
        await edge.login()
        status, health = await edge.health()
        assert status == 200 and health["status"] == "ok"
        assert health["components"]["registry"]["state"] == "live"
        assert health["components"]["mapping_rules"]["state"] == "live"

        site.line.cut()

        async def rules_stale() -> bool:
            """The rules follower tells its own state: routing goes on with the last rules."""
            rules = (await edge.health())[1]["components"]["mapping_rules"]
            return bool(rules["state"] == "stale")

        await until(rules_stale, 15)

        async def stale() -> bool:
            return (await edge.health())[1]["status"] == "degraded"

        await until(stale, 5)
        status, health = await edge.health()
        registry = health["components"]["registry"]
        assert status == 200 and registry["summary"].startswith("stale since ")
        assert "registry stale since" in health["reason"] and registry["sync_age_seconds"] >= 0
        metrics = await edge.metrics()
        assert 'openstackoid_component_state{component="registry",state="stale"} 1.0' in metrics
        assert "openstackoid_component_sync_age_seconds" in metrics

        assert await edge.images_status(SCOPE_1) == 200  # serving from memory
        status, error = await edge.admin("PUT", "cloud-2", site.cloud_2.to_dict(with_secrets=True))
        assert status == 503, error
        assert error["error"]["title"] == "Service Unavailable"
        assert "not made" in error["error"]["message"]
        assert "cloud-2" not in edge_registry  # not in this proxy's memory only
        status, error = await edge.put_rule("cut-off")  # the rules' store: the same answer
        assert status == 503 and "not made" in error["error"]["message"], error
        status, _ = await centre.admin("GET", "cloud-2")
        assert status == 404  # nor anywhere else

        status, _ = await centre.admin("PUT", "cloud-2", site.cloud_2.to_dict(with_secrets=True))
        assert status == 201
        status, _ = await centre.admin("DELETE", "doomed")  # a deletion during the outage
        assert status == 204
        assert await edge.images_status(SCOPE_2) == 400  # unknown to the edge: not heard yet

        site.line.restore()
        seconds = await until(lambda: _routes(edge, SCOPE_2), 5)
        print(f"a change made during the outage routed {seconds:.2f} s after the restore")
        assert "doomed" not in edge_registry

        async def healthy() -> bool:
            return (await edge.health())[1]["status"] == "ok"

        await until(healthy, 5)
        components = (await edge.health())[1]["components"]
        assert components["registry"]["state"] == components["mapping_rules"]["state"] == "live"
        status, body = await edge.put_rule("cut-off")  # refused during the outage, now made
        assert status == 201, body


async def test_started_cut_off_with_a_snapshot_it_serves_then_converges(site: Site) -> None:
    async with AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())
        async with running_proxy(site.config(edge=True), Registry()):
            pass  # a run with the link up leaves the snapshot
        site.line.cut()
        store = await PostgresStore(site.dsn).open()
        await store.upsert(site.cloud_2)
        await store.close()

        edge_registry = Registry()
        edge_url = await stack.enter_async_context(
            running_proxy(site.config(edge=True), edge_registry)
        )
        edge = Client(session, edge_url, site.cloud_1)
        await edge.login()
        assert await edge.images_status(SCOPE_1) == 200
        status, health = await edge.health()
        assert status == 200 and health["status"] == "degraded"
        assert health["components"]["registry"]["summary"].startswith("snapshot since ")
        assert "snapshot" in health["reason"]

        site.line.restore()
        await until(lambda: _routes(edge, SCOPE_2), 5)
        await until(lambda: _healthy(edge), 5)  # every follower (clouds, named scopes) live


async def test_started_cut_off_without_a_snapshot_it_waits_then_serves(site: Site) -> None:
    site.line.cut()
    edge_registry = Registry()
    proxy = running_proxy(site.config(edge=True, snapshot="never.json"), edge_registry)
    starting = asyncio.get_running_loop().create_task(proxy.__aenter__())
    await until(lambda: _attempts_past(site.line, 3), 10)
    assert not starting.done()  # no registry yet: not serving an empty one
    site.line.restore()
    edge_url = await asyncio.wait_for(starting, 10)
    try:
        async with aiohttp.ClientSession() as session:
            edge = Client(session, edge_url, site.cloud_1)
            await edge.login()
            assert await edge.images_status(SCOPE_1) == 200
        assert edge_registry.names() == ["cloud-1", "doomed"]
    finally:
        await proxy.__aexit__(None, None, None)


async def _attempts_past(line: Faultline, count: int) -> bool:
    return line.accepted >= count


async def test_a_flapping_link_ten_cuts_in_thirty_seconds(site: Site) -> None:
    """10 cuts over about 30 s while clients use the edge and the centre keeps changing
    the registry: the edge never stops serving, leaks no connection or task, and ends with
    exactly the centre's registry."""
    schedule = random.Random(19)
    tasks_before = len(asyncio.all_tasks())
    edge_registry = Registry()
    async with AsyncExitStack() as stack:
        centre_url = await stack.enter_async_context(
            running_proxy(site.config(edge=False), Registry())
        )
        edge_url = await stack.enter_async_context(
            running_proxy(site.config(edge=True), edge_registry)
        )
        session = await stack.enter_async_context(aiohttp.ClientSession())
        centre = Client(session, centre_url, site.cloud_1)
        edge = Client(session, edge_url, site.cloud_1)
        await edge.login()
        refused: list[int] = []

        async def keep_asking() -> None:
            while True:
                status = await edge.images_status(SCOPE_1)
                if status != 200:
                    refused.append(status)
                await asyncio.sleep(0.05)

        asker = asyncio.get_running_loop().create_task(keep_asking())

        async def stop_asking() -> None:
            asker.cancel()
            await asyncio.gather(asker, return_exceptions=True)

        stack.push_async_callback(stop_asking)
        body = site.cloud_2.to_dict(with_secrets=True)

        async def stale() -> bool:
            return (await edge.health())[1]["status"] == "degraded"

        for cut in range(10):
            site.line.cut()
            await until(stale, 5)  # each cut reaches the edge
            await asyncio.sleep(schedule.uniform(0.5, 1.5))
            # The centre toggles cloud-2 and the extra clouds while the edge is cut off.
            status, _ = await centre.admin("PUT" if cut % 2 == 0 else "DELETE", "cloud-2", body)
            assert status in (200, 201, 204)
            extra = dict(body, name=f"extra-{cut}", auth_url=f"http://127.0.0.1:9/v3/{cut}")
            assert (await centre.admin("PUT", f"extra-{cut}", extra))[0] == 201
            site.line.restore()
            await asyncio.sleep(schedule.uniform(1.0, 2.0))
            # The registry's LISTEN connection + a pool of 4 at most, and the mapping rules'
            # LISTEN connection (their reads go through it; their pool idles to nothing).
            assert site.line.open_links <= 6
        await stop_asking()
        assert refused == []  # served through every cut

        store = await PostgresStore(site.dsn).open()
        expected = {c.name: c for c in await store.load_all()}
        await store.close()

        async def converged() -> bool:
            return {c.name: c for c in edge_registry} == expected

        await until(converged, 10)
        assert "cloud-2" not in edge_registry  # the tenth change was a deletion
        await until(lambda: _healthy(edge), 5)  # every follower (clouds, named scopes) live
    await site.line.wait_idle()  # the edge closed every connection it opened
    assert len(asyncio.all_tasks()) == tasks_before


async def test_after_a_long_outage_a_change_is_routed_within_5_s_of_the_restore(
    site: Site,
) -> None:
    """Retries back off to one every 3 s at most: however long the outage, a restored
    link is used within that, plus one reload."""
    async with AsyncExitStack() as stack:
        edge_url = await stack.enter_async_context(
            running_proxy(site.config(edge=True), Registry())
        )
        session = await stack.enter_async_context(aiohttp.ClientSession())
        edge = Client(session, edge_url, site.cloud_1)
        await edge.login()
        site.line.cut()
        before = site.line.accepted
        # 0.25 + 0.5 + 1 + 2 + 3 s: six attempts put the backoff at its cap.
        await until(lambda: _attempts_past(site.line, before + 6), 20)
        store = await PostgresStore(site.dsn).open()
        await store.upsert(site.cloud_2)
        await store.close()
        site.line.restore()
        seconds = await until(lambda: _routes(edge, SCOPE_2), 5)
        print(f"routed {seconds:.2f} s after the restore of a long outage")
