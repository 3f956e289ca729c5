"""A real fleet: HAProxy round-robins over two `openstackoid proxy` processes of two workers
each, sharing the PostgreSQL registry and the Redis scope memory.

The seed scenario runs 20 times through HAProxy with the real `openstack` CLI. Nova's call to
Glance carries the user's token and no X-Scope, and lands on whichever worker of whichever
proxy HAProxy picks: only the shared scope memory sends it to cloud-3.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from openstackoid.cli_plugin.demo import client_clouds_yaml
from openstackoid.proxy.cli import access_entries
from openstackoid.registry import TargetCredential, load_clouds_yaml
from openstackoid.registry.postgres import PostgresStore
from openstackoid.registry.rule_store_postgres import PostgresRuleStore
from openstackoid.testbed import Testbed, admin_auth_body
from openstackoid.testbed.cli_runner import run_openstack
from openstackoid.testbed.pytest_plugin import TestbedFactory
from tests.federation import FLEET_ADMIN, FLEET_ADMINS_RULE
from tests.pg import private_schema
from tests.processes import all_workers_answer, free_port, start_proxy, worker_of
from tests.redis_prefix import private_prefix, scope_memory_url

ADMIN = "fleet-admin-token"
SCOPE = "{keystone: cloud-1; glance: cloud-3}"
RUNS = 20

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@pytest_asyncio.fixture
async def fleet_dsn() -> AsyncIterator[str]:
    async with private_schema("fleet") as dsn:
        yield dsn


@pytest_asyncio.fixture
async def scope_memory() -> AsyncIterator[str]:
    async with private_prefix("fleet") as prefix:
        yield scope_memory_url(prefix)


class Fleet:
    """HAProxy in front of two proxies, each a process with its stderr (access log) kept."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proxies: list[str] = []
        self.logs: list[Path] = []
        self._processes: list[asyncio.subprocess.Process] = []

    async def start_proxy(self, name: str, dsn: str, scope_memory: str) -> str:
        log = self.tmp_path / f"{name}.log"
        with log.open("wb") as stderr:
            process, url = await start_proxy(
                *("--registry-dsn", dsn, "--scope-memory", scope_memory, "--workers", "2"),
                *("--default-scope", "{*: cloud-1}", "--access-log"),
                # catalogs and links name the load balancer
                *("--public-url", self.url, "--config", str(self._config(name))),
                stderr=stderr,
            )
        self._processes.append(process)
        self.proxies.append(url)
        self.logs.append(log)
        return url

    def _config(self, name: str) -> Path:
        path = self.tmp_path / f"{name}.yaml"
        path.write_text(f"admin_token: {ADMIN}\n")
        return path

    async def start_haproxy(self) -> None:
        servers = "\n".join(
            f"    server p{i} {url.removeprefix('http://')} check inter 500ms"
            for i, url in enumerate(self.proxies)
        )
        config = self.tmp_path / "haproxy.cfg"
        config.write_text(
            f"""global
    maxconn 512
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
frontend fleet
    bind 127.0.0.1:{self.port}
    default_backend proxies
backend proxies
    balance roundrobin
    option http-server-close
    option httpchk GET /healthz
{servers}
"""
        )
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        process = await asyncio.create_subprocess_exec(
            haproxy,
            "-db",
            "-f",
            str(config),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=(self.tmp_path / "haproxy.log").open("wb"),
        )
        self._processes.append(process)

    async def stop(self) -> None:
        """The load balancer first, then the proxies: each must end within its bound."""
        stuck = []
        for process in reversed(self._processes):  # HAProxy was started last
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=60)
            except TimeoutError:
                process.kill()
                await process.wait()
                stuck.append(process.pid)
        assert not stuck, f"processes {stuck} ignored SIGTERM for 60 s; logs in {self.tmp_path}"

    def access_log(self) -> list[dict[str, object]]:
        return [
            {**entry, "proxy": index}
            for index, log in enumerate(self.logs)
            for entry in access_entries(log.read_text())
        ]


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition never met"
        await asyncio.sleep(0.1)


async def _answers(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(f"{url}/healthz") as resp:
            body = await resp.json()
            return bool(
                resp.status == 200 and body["components"]["scope_memory"]["state"] == "live"
            )
    except (aiohttp.ClientError, ValueError, KeyError):
        return False


@pytest_asyncio.fixture
async def fleet(
    make_testbed: TestbedFactory, tmp_path: Path, fleet_dsn: str, scope_memory: str
) -> AsyncIterator[tuple[Fleet, Testbed]]:
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    bed = await make_testbed(clouds=4)
    fleet = Fleet(tmp_path)
    bed.image_service_url = f"{fleet.url}/image"  # Nova asks Glance through the fleet
    clouds = load_clouds_yaml(bed.write_clouds_yaml(tmp_path / "clouds.yaml"))
    store = await PostgresStore(fleet_dsn).open()
    for cloud in clouds[:3]:  # cloud-4 joins later, through one proxy's admin API
        await store.upsert(cloud)
    await store.close()
    # The default is deny: the operator lets admins act as admins across the fleet.
    rule_store = await PostgresRuleStore(fleet_dsn).open()
    await rule_store.upsert_rule(FLEET_ADMINS_RULE)
    for cloud in clouds:
        assert cloud.credentials is not None
        credential = TargetCredential(cloud.name, FLEET_ADMIN, cloud.credentials)
        await rule_store.upsert_credential(credential)
    await rule_store.close()
    async with AsyncExitStack() as stack:
        stack.push_async_callback(fleet.stop)
        for name in ("proxy-a", "proxy-b"):
            await fleet.start_proxy(name, fleet_dsn, scope_memory)
        session = await stack.enter_async_context(aiohttp.ClientSession())
        for url in fleet.proxies:
            await _until(lambda url=url: _answers(session, url))  # type: ignore[misc]
            await all_workers_answer(url)
        await fleet.start_haproxy()
        await _until(lambda: _answers(session, fleet.url))
        yield fleet, bed


async def test_the_seed_scenario_20_times_through_haproxy(
    fleet: tuple[Fleet, Testbed], tmp_path: Path
) -> None:
    lb, bed = fleet
    clouds_yaml = client_clouds_yaml(lb.url, tmp_path / "client.yaml", bed.cloud("cloud-1"))
    image_id = bed.cloud("cloud-3").image_id
    image_path = f"/image/v2/images/{image_id}"
    for run in range(RUNS):
        bed.clear_requests()
        code, out, err = await run_openstack(
            "--os-cloud",
            "openstackoid",
            "server",
            "create",
            "--image",
            "cirros",
            "--flavor",
            "m1.small",
            "--scope",
            SCOPE,
            "--wait",
            "-f",
            "json",
            f"fleet-{run}",
            clouds_yaml=clouds_yaml,
        )
        assert code == 0, f"run {run}: {err}"
        server = json.loads(out)
        assert server["status"] == "ACTIVE" and image_id in str(server["image"]), server
        cloud_1, cloud_3 = bed.requests("cloud-1"), bed.requests("cloud-3")
        # The server was created in cloud-1...
        assert [r for r in cloud_1 if r.method == "POST" and r.path == "/compute/v2.1/servers"]
        # ...Nova's image and schema checks reached cloud-3 (the CLI asks for no schema):
        # Nova never sends X-Scope, so the fleet routed them by the scope it remembered for
        # the user's token, whichever proxy and worker they reached...
        paths = [r.path for r in cloud_3]
        assert paths.count("/image/v2/schemas/image") == 1, f"run {run}"
        assert image_path in paths, f"run {run}"
        # ...and no cloud ever sees openstackoid's own header.
        assert not [r for r in cloud_1 + cloud_3 if "x-scope" in r.header_names], f"run {run}"
        # ...and nothing fell back to the default scope's Glance.
        assert not [r for r in cloud_1 if r.path.startswith("/image")], f"run {run}"
    # Both proxies served the runs' requests.
    entries = lb.access_log()
    assert {e["proxy"] for e in entries} == {0, 1}
    assert not [e for e in entries if e["path"] == image_path and e["clouds"] != "cloud-3"]


async def test_a_scope_noted_by_one_proxy_routes_the_others_scope_less_requests(
    fleet: tuple[Fleet, Testbed],
) -> None:
    """Deterministic beside the round-robin above: the token and its scope go to proxy A
    only; proxy B, on new connections spread over its two workers, routes the token's
    scope-less requests to cloud-3."""
    lb, bed = fleet
    proxy_a, proxy_b = lb.proxies
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        async with session.post(
            f"{proxy_a}/identity/v3/auth/tokens",
            json=admin_auth_body(bed.cloud("cloud-1")),
            headers={"X-Scope": SCOPE},
        ) as resp:
            assert resp.status == 201, await resp.text()
            token = resp.headers["X-Subject-Token"]
        async with session.get(
            f"{proxy_a}/image/v2/images", headers={"X-Auth-Token": token, "X-Scope": SCOPE}
        ) as resp:
            assert resp.status == 200
        bed.clear_requests()
        workers = set()
        for _ in range(20):
            async with session.get(
                f"{proxy_b}/image/v2/images", headers={"X-Auth-Token": token}
            ) as resp:
                assert resp.status == 200, await resp.text()
                workers.add(worker_of(resp))
    assert len(workers) == 2
    assert len([r for r in bed.requests("cloud-3") if r.path == "/image/v2/images"]) == 20
    assert not [r for r in bed.requests("cloud-1") if r.path.startswith("/image")]


async def test_a_cloud_added_through_one_proxy_is_routed_through_haproxy(
    fleet: tuple[Fleet, Testbed],
) -> None:
    lb, bed = fleet
    cloud_4 = next(c for c in load_clouds_yaml(lb.tmp_path / "clouds.yaml") if c.name == "cloud-4")
    async with aiohttp.ClientSession() as session:
        scope = "{keystone: cloud-1; glance: cloud-4}"
        async with session.post(
            f"{lb.url}/identity/v3/auth/tokens",
            json=admin_auth_body(bed.cloud("cloud-1")),
            headers={"X-Scope": scope},
        ) as resp:
            assert resp.status == 201, await resp.text()
            token = resp.headers["X-Subject-Token"]

        async def statuses() -> list[int]:
            """Four requests: round-robin sends two to each proxy."""
            got = []
            for _ in range(4):
                async with session.get(
                    f"{lb.url}/image/v2/images", headers={"X-Auth-Token": token, "X-Scope": scope}
                ) as resp:
                    await resp.read()
                    got.append(resp.status)
            return got

        assert await statuses() == [400] * 4  # cloud-4 is unknown to the fleet
        async with session.put(
            f"{lb.proxies[0]}/_openstackoid/admin/clouds/cloud-4",
            json=cloud_4.to_dict(with_secrets=True),
            headers={"X-Admin-Token": ADMIN},
        ) as resp:
            assert resp.status == 201, await resp.text()

        async def routed() -> bool:
            return await statuses() == [200] * 4

        await _until(routed, 20)
        assert any(r.path == "/image/v2/images" for r in bed.requests("cloud-4"))
        # Every proxy served some of them, the one not told included.
        served = {e["proxy"] for e in lb.access_log() if e["path"] == "/image/v2/images"}
        assert served == {0, 1}
