"""The seed scenario on real Nova: server create to ACTIVE through the proxy (cloud-999's image,
Nova asking the proxy for it) vs cloud-1 alone with its own Glance, in the same run; and the
proxy's CPU per Nova->Glance call.

One compute cloud (real Keystone, Glance, Nova, Placement, Neutron: ~1.4 GiB) and one image
cloud. Phases alternate P D | D P | ... (nova-api is restarted with the other `[glance]
endpoint_override` at each switch, as an operator would), so drift of the shared machine
hits both sides. Each server: POST /servers, then GET every 50 ms until ACTIVE; then deleted.
Needs `make real-venv` and MariaDB + RabbitMQ (`make real-services`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console

from bench.contenders import cpu_seconds
from bench.servers import start_proxy, stop
from openstackoid.proxy import ProxyConfig
from openstackoid.testbed.model import FLAVORS
from openstackoid.testbed.real import RealCloudInfo, RealTestbed
from openstackoid.testbed.real.keystone_admin import issue_token, password_auth

COMPUTE_CLOUD = "cloud-1"
IMAGE_CLOUD = "cloud-999"
SEED_SCOPE = f"{{keystone: {COMPUTE_CLOUD}; glance: {IMAGE_CLOUD}}}"
NOVA_MICROVERSION = {"OpenStack-API-Version": "compute 2.37"}
"""2.37: `networks: none`, as `openstack server create --nic none` sends."""
POLL_SECONDS = 0.05
console = Console(stderr=True)
ACTIVE_TIMEOUT = 120.0


@dataclass(frozen=True)
class Side:
    """Where one phase's user sends its calls, with what token, for which image."""

    name: str
    compute_url: str
    token: str
    image_id: str
    extra_headers: dict[str, str]


async def _check(response: aiohttp.ClientResponse, status: int, what: str) -> Any:
    body = await response.json(content_type=None)
    if response.status != status:
        raise RuntimeError(f"{what}: {response.status} {body}")
    return body


async def create_to_active(http: aiohttp.ClientSession, side: Side) -> float:
    """Seconds from POST /servers to the first GET that says ACTIVE; the server is deleted."""
    headers = {"X-Auth-Token": side.token, **NOVA_MICROVERSION, **side.extra_headers}
    server = {
        "name": f"bench-{uuid.uuid4().hex[:8]}",
        "imageRef": side.image_id,
        "flavorRef": FLAVORS[1][0],
        "networks": "none",
    }
    url = f"{side.compute_url}/servers"
    started = time.perf_counter()
    async with http.post(url, json={"server": server}, headers=headers) as response:
        server_id = (await _check(response, 202, f"{side.name}: create"))["server"]["id"]
    deadline = started + ACTIVE_TIMEOUT
    while True:
        async with http.get(f"{url}/{server_id}", headers=headers) as response:
            status = (await _check(response, 200, f"{side.name}: show"))["server"]["status"]
        if status == "ACTIVE":
            elapsed = time.perf_counter() - started
            break
        if status == "ERROR" or time.perf_counter() > deadline:
            raise RuntimeError(f"{side.name}: server {server_id} is {status}")
        await asyncio.sleep(POLL_SECONDS)
    async with http.delete(f"{url}/{server_id}", headers=headers) as response:
        await _check(response, 204, f"{side.name}: delete")
    return elapsed


async def proxy_cpu_per_call(
    http: aiohttp.ClientSession, pid: int, url: str, headers: dict[str, str], calls: int
) -> float:
    """The proxy's CPU seconds per GET, replayed one after another."""
    async with http.get(url, headers=headers) as response:  # warm: service token, validation
        await _check(response, 200, f"warm-up GET {url}")
    before = cpu_seconds(pid)
    for _ in range(calls):
        async with http.get(url, headers=headers) as response:
            await _check(response, 200, f"GET {url}")
    return (cpu_seconds(pid) - before) / calls


async def _token(http: aiohttp.ClientSession, info: RealCloudInfo, **auth: str) -> str:
    body = password_auth(
        auth.get("username", info.username),
        auth.get("password", info.password),
        auth.get("project", info.project_name),
    )
    return await issue_token(http, info, body)


async def _proxied_token(http: aiohttp.ClientSession, proxy_url: str, scope: str) -> str:
    """The user's token, asked through the proxy with the scope, then used once with it: the
    proxy remembers a token's scope from its first call that carries both."""
    body = password_auth("admin", "secret", "admin")
    url = f"{proxy_url}/identity/v3/auth/tokens"
    async with http.post(url, json=body, headers={"X-Scope": scope}) as response:
        await _check(response, 201, "token through the proxy")
        token = response.headers["X-Subject-Token"]
    headers = {"X-Auth-Token": token, "X-Scope": scope}
    async with http.get(f"{proxy_url}/identity/v3", headers=headers) as response:
        await _check(response, 200, "first call with the token")
    return token


async def measure(rounds: int, per_phase: int, calls: int) -> dict[str, Any]:
    workdir = tempfile.TemporaryDirectory(prefix="bench-real-nova-")
    bed = RealTestbed([COMPUTE_CLOUD, IMAGE_CLOUD], compute=[COMPUTE_CLOUD])
    await bed.start(progress=True)
    proxy = None
    try:
        clouds_yaml = str(bed.write_clouds_yaml(Path(workdir.name) / "clouds.yaml"))
        proxy, proxy_url = await start_proxy(ProxyConfig(clouds_yaml=clouds_yaml))
        assert proxy.pid is not None
        compute, image = bed.cloud(COMPUTE_CLOUD), bed.cloud(IMAGE_CLOUD)
        async with aiohttp.ClientSession() as http:
            via_proxy = Side(
                "proxy",
                f"{proxy_url}/compute/v2.1",
                await _proxied_token(http, proxy_url, SEED_SCOPE),
                image.image_id,
                {"X-Scope": SEED_SCOPE},
            )
            direct = Side(
                "direct",
                compute.endpoints["compute"],
                await _token(http, compute),
                compute.image_id,
                {},
            )
            times: dict[str, list[float]] = {"proxy": [], "direct": []}
            order: list[Side] = []
            for index in range(rounds):
                order += [via_proxy, direct] if index % 2 == 0 else [direct, via_proxy]
            current: str | None = "unset"
            for side in order:
                url = f"{proxy_url}/image" if side is via_proxy else None
                if url != current:
                    await bed.use_image_service(url)
                    current = url
                    # A restarted nova-api loads its policies and validates its first
                    # tokens on first use: one server first, not counted.
                    await create_to_active(http, side)
                phase = [await create_to_active(http, side) for _ in range(per_phase)]
                times[side.name] += phase
                console.print(
                    f"{side.name}: create to ACTIVE {', '.join(f'{t:.2f}' for t in phase)} s"
                )
            nova_token = await _token(
                http, compute, username="nova", password="service-secret", project="service"
            )
            nova_shaped = {
                "X-Auth-Token": via_proxy.token,
                "X-Service-Token": nova_token,
                "User-Agent": "python-glanceclient",
            }
            cross = await proxy_cpu_per_call(
                http,
                proxy.pid,
                f"{proxy_url}/image/v2/images/{image.image_id}",
                nova_shaped,
                calls,
            )
            console.print(
                f"proxy CPU per Nova-shaped call, cloud-1 token -> cloud-999: {cross * 1e6:.0f} us"
            )
            same_token = await _proxied_token(http, proxy_url, f"{{*: {COMPUTE_CLOUD}}}")
            same = await proxy_cpu_per_call(
                http,
                proxy.pid,
                f"{proxy_url}/image/v2/images/{compute.image_id}",
                {**nova_shaped, "X-Auth-Token": same_token},
                calls,
            )
    finally:
        if proxy is not None:
            stop(proxy)
        workdir.cleanup()
        await bed.stop()
    proxy_median = statistics.median(times["proxy"])
    direct_median = statistics.median(times["direct"])
    return {
        "servers_per_side": len(times["proxy"]),
        "create_to_active_s": {
            side: {
                "median": round(statistics.median(values), 3),
                "min": round(min(values), 3),
                "max": round(max(values), 3),
            }
            for side, values in times.items()
        },
        "proxy_cpu_us_per_nova_glance_call": {
            "cross_cloud (cloud-1 token -> cloud-999)": round(cross * 1e6, 1),
            "same_cloud (cloud-1 token -> cloud-1)": round(same * 1e6, 1),
        },
        "ratios": {
            "create to ACTIVE: proxy + cloud-999 image / cloud-1 alone": round(
                proxy_median / direct_median, 3
            ),
            "proxy CPU per Nova->Glance call: cross-cloud / same-cloud": round(cross / same, 3),
        },
    }


def run(quick: bool = False) -> dict[str, Any]:
    return asyncio.run(measure(rounds=2, per_phase=2 if quick else 5, calls=100 if quick else 500))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--per-phase", type=int, default=5)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.rounds, args.per_phase, args.calls)), indent=2))


if __name__ == "__main__":
    main()
