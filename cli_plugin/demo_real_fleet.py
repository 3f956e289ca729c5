"""The seed scenario on real OpenStack through two proxy processes, as a fleet runs them
(`openstackoid demo --real --proxies 2`, tests/real/test_seed_two_proxies.py).

Proxies A and B share the registry and the operator's mapping rules in PostgreSQL and the
scope memory in Redis. The user's CLI talks to A only; cloud-1's Nova asks for images through
B only (``[glance] endpoint_override``), so B serves a call for a request it never saw.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import redis.asyncio as aioredis

from openstackoid.cli_plugin.demo import client_clouds_yaml
from openstackoid.cli_plugin.demo_real import (
    COMPUTE_CLOUD,
    IMAGE_CLOUD,
    SEED_SCOPE,
    DemoFailed,
    check,
    console,
    explain_hop,
    nova_calls_through_proxy,
    openstack,
    proxy_line,
    real_clouds,
    seed_rules,
    show_lines,
)
from openstackoid.proxy.cli import access_entries
from openstackoid.registry import Registry, load_clouds_yaml
from openstackoid.registry.postgres import PostgresStore
from openstackoid.registry.rule_store_postgres import PostgresRuleStore
from openstackoid.scratch import scratch_prefix, scratch_schema, with_key_prefix
from openstackoid.testbed.real import RealTestbed
from openstackoid.testbed.real.evidence import image_hop
from openstackoid.testbed.real.process import free_port

HOST = "127.0.0.1"
LIVE_SECONDS = 60.0
STOP_SECONDS = 30.0


class FleetFailed(Exception):
    """A proxy of the fleet did not come up, or did not stop."""


@dataclass(frozen=True)
class RealFleet:
    """The real clouds, the two proxies in front of them and the user's clouds.yaml files."""

    bed: RealTestbed
    dsn: str
    """The PostgreSQL both proxies follow (registry and mapping rules)."""
    proxies: tuple[str, str]
    """A (the user's) and B (cloud-1's Nova's)."""
    user_yaml: Path
    """The user's clouds.yaml: proxy A."""
    other_yaml: Path
    """The same user's clouds.yaml for proxy B."""
    logs: tuple[Path, Path]
    """What A and B write to stderr (their access logs among it)."""

    def access(self, proxy: int) -> list[dict[str, Any]]:
        """Proxy `proxy`'s access-log entries so far (0: A, 1: B)."""
        return access_entries(self.logs[proxy].read_text())


async def _live(session: aiohttp.ClientSession, url: str, clouds: int) -> bool:
    """Answering, its registry loaded and its Redis scope memory live."""
    try:
        async with session.get(f"{url}/healthz") as resp:
            body = await resp.json()
    except (aiohttp.ClientError, ValueError):
        return False
    memory = body.get("components", {}).get("scope_memory", {})
    return bool(body.get("clouds") == clouds and memory.get("state") == "live")


async def _start_proxy(stack: AsyncExitStack, port: int, log: Path, *args: str, clouds: int) -> str:
    """`openstackoid proxy` as a process on `port`, stopped when `stack` closes."""
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "openstackoid.cli", "proxy", "--host", HOST,
            "--port", str(port), "--access-log", *args, stderr=stderr,
        )  # fmt: skip
    stack.push_async_callback(_stop, process, log)
    url = f"http://{HOST}:{port}"
    async with aiohttp.ClientSession() as session:
        deadline = asyncio.get_running_loop().time() + LIVE_SECONDS
        while not await _live(session, url, clouds):
            if process.returncode is not None or asyncio.get_running_loop().time() > deadline:
                raise FleetFailed(f"the proxy on {url} never came up live: see {log}")
            await asyncio.sleep(0.2)
    return url


async def _stop(process: asyncio.subprocess.Process, log: Path) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise FleetFailed(f"proxy pid {process.pid} ignored SIGTERM: killed; see {log}") from None


async def register_in_postgres(dsn: str, clouds_yaml: Path) -> None:
    """The operator's part: the clouds, the seed rule and its credential, in PostgreSQL."""
    clouds = load_clouds_yaml(clouds_yaml)
    store = await PostgresStore(dsn).open()
    try:
        await store.upsert_many(clouds)
    finally:
        await store.close()
    book = await seed_rules(Registry(clouds))  # the application credential at cloud-999
    rule_store = await PostgresRuleStore(dsn).open()
    try:
        for rule in book.rules():
            await rule_store.upsert_rule(rule)
        for credential in book.credentials():
            await rule_store.upsert_credential(credential)
    finally:
        await rule_store.close()


@asynccontextmanager
async def real_fleet(
    workdir: Path, dsn: str, scope_memory: str, progress: bool = False
) -> AsyncIterator[RealFleet]:
    """cloud-1 and cloud-999 behind proxies A and B (`dsn`: a PostgreSQL schema of this run's
    own; `scope_memory`: a Redis URL under a key prefix of its own).

    B's port is chosen first: it goes into cloud-1's nova.conf before Nova starts."""
    nova_port = free_port(HOST)
    image_service_url = f"http://{HOST}:{nova_port}/image"
    async with real_clouds(workdir, image_service_url, progress) as (bed, clouds_yaml):
        await register_in_postgres(dsn, clouds_yaml)
        shared = ("--registry-dsn", dsn, "--scope-memory", scope_memory)
        logs = (workdir / "proxy-a.log", workdir / "proxy-b.log")
        async with AsyncExitStack() as stack:
            clouds = len(bed.clouds)
            user_proxy = await _start_proxy(stack, free_port(HOST), logs[0], *shared, clouds=clouds)
            nova_proxy = await _start_proxy(stack, nova_port, logs[1], *shared, clouds=clouds)
            yield RealFleet(
                bed,
                dsn,
                (user_proxy, nova_proxy),
                client_clouds_yaml(user_proxy, workdir / "user-a.yaml"),
                client_clouds_yaml(nova_proxy, workdir / "user-b.yaml"),
                logs,
            )


async def fleet_step(
    fleet: RealFleet, title: str, clouds_yaml: Path, *args: str
) -> tuple[str, list[list[dict[str, Any]]]]:
    """One CLI command through the proxy `clouds_yaml` names; its output and each proxy's
    new access-log lines."""
    console.rule(title)
    via = "A" if clouds_yaml == fleet.user_yaml else "B"
    console.print(
        f"$ openstack {shlex.join(args)}   (through proxy {via})",
        style="bold",
        highlight=False,
        markup=False,
    )
    seen = [len(fleet.access(0)), len(fleet.access(1))]
    out = await openstack(clouds_yaml, "openstackoid", *args)
    console.print(out.strip()[:2000], highlight=False, markup=False)
    lines = [fleet.access(index)[seen[index] :] for index in (0, 1)]
    for index, name in enumerate(("A (the user's)", "B (Nova's)")):
        show_lines(f"proxy {name} access log:", [proxy_line(line) for line in lines[index]])
    return out, lines


async def fleet_scenario(fleet: RealFleet) -> None:
    bed = fleet.bed
    console.print(
        f"proxy A {fleet.proxies[0]} and proxy B {fleet.proxies[1]}: registry and mapping "
        "rules in PostgreSQL, the scope of each token in Redis"
    )
    console.print(
        f"{COMPUTE_CLOUD}'s nova.conf: [glance] endpoint_override = {bed.image_service_url}"
        " (proxy B); the user's clouds.yaml names proxy A",
        highlight=False,
        markup=False,
    )
    image_id = bed.cloud(IMAGE_CLOUD).image_id
    out, (user_side, nova_side) = await fleet_step(
        fleet,
        f"A VM in {COMPUTE_CLOUD} from the image held by {IMAGE_CLOUD}, through proxy A",
        fleet.user_yaml,
        *("server", "create", "--image", "cirros", "--flavor", "m1.small", "--nic", "none"),
        *("--scope", SEED_SCOPE, "--wait", "-f", "json", "cirros1"),
    )
    created = json.loads(out)
    check(created["status"] == "ACTIVE", f"the server is ACTIVE in {COMPUTE_CLOUD}'s real Nova")
    check(image_id in str(created["image"]), f"it was built from {IMAGE_CLOUD}'s image {image_id}")
    novas = nova_calls_through_proxy(user_side + nova_side)  # the create's request id
    check(
        any(line["path"] == f"/image/v2/images/{image_id}" for line in novas)
        and all(line["clouds"] == IMAGE_CLOUD for line in novas),
        f"proxy B sent Nova's image call to {IMAGE_CLOUD} (the scope A noted, found in Redis)",
    )
    check(
        all(line in nova_side for line in novas),
        "each of Nova's calls for the user's create (the request id A relayed) reached B only",
    )
    check(
        not [line for line in nova_side if line["service"] != "image"],
        "proxy B never saw the user's own requests (no token request, no server create)",
    )
    explain_hop(bed, image_hop(bed, COMPUTE_CLOUD, IMAGE_CLOUD, image_id))
    scoped = ("--os-scope", SEED_SCOPE)
    out, _ = await fleet_step(
        fleet, "server show, through proxy B", fleet.other_yaml,
        *scoped, "server", "show", "cirros1", "-f", "json",
    )  # fmt: skip
    check(json.loads(out)["id"] == created["id"], "proxy B answers as proxy A did")
    await fleet_step(
        fleet, "server delete, through proxy B", fleet.other_yaml,
        *scoped, "server", "delete", "--wait", "cirros1",
    )  # fmt: skip
    out, _ = await fleet_step(
        fleet, "server list, through proxy A", fleet.user_yaml,
        *scoped, "server", "list", "-f", "json",
    )  # fmt: skip
    check(json.loads(out) == [], "server list through A: empty after the delete through B")


async def demo(dsn: str, redis_url: str) -> None:
    started = time.monotonic()
    console.print("starting real clouds (about a minute or two; Nova's databases are migrated)")
    async with (
        scratch_schema(dsn, "openstackoid_demo") as schema_dsn,
        scratch_prefix(redis_url, "openstackoid-demo") as prefix,
    ):
        with tempfile.TemporaryDirectory(prefix="openstackoid-demo-fleet-") as workdir:
            memory = with_key_prefix(redis_url, prefix)
            async with real_fleet(Path(workdir), schema_dsn, memory, progress=True) as fleet:
                console.print(f"clouds and proxies up in {time.monotonic() - started:.0f} s")
                await fleet_scenario(fleet)
    console.rule(f"[green]demo passed in {time.monotonic() - started:.0f} s")


def run(dsn: str, redis_url: str) -> int:
    try:
        asyncio.run(demo(dsn, redis_url))
    except (DemoFailed, FleetFailed) as exc:
        console.print(f"[red]demo failed: {exc}")
        return 1
    except (OSError, asyncpg.PostgresError, aioredis.RedisError) as exc:
        console.print(
            f"[red]demo failed: PostgreSQL at {dsn} and Redis at {redis_url} must answer "
            f"(make services): {exc}"
        )
        return 1
    return 0
