"""The seed scenario on real Nova: server create to ACTIVE through the proxy (cloud-999's image,
Nova asking the proxy for it) vs cloud-1 alone with its own Glance, in the same run; and the
proxy's CPU per Nova->Glance call.

One compute cloud (real Keystone, Glance, Nova, Placement, Neutron: ~1.4 GiB) and one image
cloud. Phases alternate P D | D P | ... (nova-api is restarted with the other `[glance]
endpoint_override` at each switch, as an operator would), so drift of the shared machine
hits both sides. Each server: POST /servers, then GET every 50 ms until ACTIVE; then deleted.
The proxy carries the operator's seed mapping rule (cli_plugin/demo_real.py): without one,
validate-at-issuer refuses Nova's cross-cloud call.
Needs `make real-venv` and MariaDB + RabbitMQ (`make real-services`).

The CPU per call is measured as Nova makes the call: one at a time, each waiting for Glance
(~5 ms of its CPU). A relay that sleeps between calls wakes three times per call (request,
Glance's head, its body) and runs the same code about twice as slowly as a loaded one
(perf: docs/real-openstack.md), so the proxy-overhead bench's figures (50 connections) do not
compare. The baseline is the same loop through that bench's minimal aiohttp forwarder, to
the same Glance; rounds alternate the contenders. `--cpu-only` starts no Nova
(Keystone and Glance only: seconds, not minutes); a cloud-1 admin token stands in for Nova's.
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
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from rich.console import Console

from bench.bench_proxy_overhead import SPAWN, _serve_forwarder
from bench.servers import free_port, start_proxy, stop, wait_up
from openstackoid.cli_plugin.demo_real import seed_rules
from openstackoid.proxy import ProxyConfig
from openstackoid.registry import Registry, load_clouds_yaml
from openstackoid.registry.rules_file import SECTION
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
CROSS = "openstackoid cross-cloud (cloud-1 token -> cloud-999)"
SAME = "openstackoid same-cloud (cloud-1 token -> cloud-1)"
FORWARDER = "minimal forwarder (cloud-999 token -> cloud-999)"


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


@dataclass(frozen=True)
class Contender:
    """A process relaying Nova-shaped GETs of an image, and how to ask it for one."""

    name: str
    pid: int
    url: str
    headers: dict[str, str]


def cpu_ns(pid: int) -> int:
    """CPU nanoseconds of a process's threads so far: the scheduler's own count
    (/proc/.../schedstat), where /proc/PID/stat ticks at 10 ms (+-20 us at 500 calls)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that just ended
    return total


async def cpu_per_call(http: aiohttp.ClientSession, contender: Contender, calls: int) -> float:
    """The contender's CPU seconds per GET, sent one after another as Nova does."""
    url, headers = contender.url, contender.headers
    async with http.get(url, headers=headers) as response:  # warm: connection, validation
        await _check(response, 200, f"{contender.name}: warm-up GET {url}")
    before = cpu_ns(contender.pid)
    for _ in range(calls):
        async with http.get(url, headers=headers) as response:
            await _check(response, 200, f"{contender.name}: GET {url}")
    return (cpu_ns(contender.pid) - before) / 1e9 / calls


async def cpu_rounds(
    http: aiohttp.ClientSession, contenders: list[Contender], rounds: int, calls: int
) -> dict[str, list[float]]:
    """CPU seconds per call of each contender, one figure a round; the order is reversed
    every other round, so the machine's drift hits every contender alike."""
    found: dict[str, list[float]] = {c.name: [] for c in contenders}
    for index in range(rounds):
        for contender in contenders if index % 2 == 0 else contenders[::-1]:
            found[contender.name].append(await cpu_per_call(http, contender, calls))
        figures = ", ".join(f"{name} {values[-1] * 1e6:.0f}" for name, values in found.items())
        console.print(f"CPU round {index + 1}, us per Nova-shaped call: {figures}")
    return found


def median_ratio(found: dict[str, list[float]], name: str, baseline: str) -> float:
    """The median of the per-round ratios: the rounds' drift cancels within each."""
    pairs = zip(found[name], found[baseline], strict=True)
    return round(statistics.median(a / b for a, b in pairs), 3)


async def with_seed_rule(clouds_yaml: Path) -> None:
    """Write the operator's seed rule into the proxy's clouds.yaml: cloud-1's users read
    cloud-999's images through a reader application credential made there (as the demo
    and the seed tests do). validate-at-issuer denies every cross-cloud call without one."""
    book = await seed_rules(Registry(load_clouds_yaml(clouds_yaml)))
    document = yaml.safe_load(clouds_yaml.read_text())
    document[SECTION] = {
        "mapping_rules": [rule.to_data() for rule in book.rules()],
        "target_credentials": [c.to_data(with_secrets=True) for c in book.credentials()],
    }
    clouds_yaml.write_text(yaml.safe_dump(document, sort_keys=False))


async def start_forwarder(glance: str) -> tuple[BaseProcess, str]:
    """bench_proxy_overhead's minimal aiohttp forwarder (uvloop) in front of a Glance at
    `glance` (its `/image` endpoint): its process and the URL of that endpoint through it."""
    port = free_port()
    origin, _, prefix = glance.partition("//")[2].partition("/")
    process = SPAWN.Process(
        target=_serve_forwarder, args=(port, f"http://{origin}", "uvloop"), daemon=True
    )
    process.start()
    url = f"http://127.0.0.1:{port}/{prefix}"
    await wait_up(f"{url}/")
    return process, url


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


async def server_phases(
    http: aiohttp.ClientSession,
    bed: RealTestbed,
    proxy_url: str,
    user_token: str,
    rounds: int,
    per_phase: int,
) -> dict[str, list[float]]:
    """Seconds from create to ACTIVE, per side: through the proxy with cloud-999's image, and
    cloud-1 alone with its own Glance."""
    compute, image = bed.cloud(COMPUTE_CLOUD), bed.cloud(IMAGE_CLOUD)
    via_proxy = Side(
        "proxy", f"{proxy_url}/compute/v2.1", user_token, image.image_id, {"X-Scope": SEED_SCOPE}
    )
    direct = Side(
        "direct", compute.endpoints["compute"], await _token(http, compute), compute.image_id, {}
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
        console.print(f"{side.name}: create to ACTIVE {', '.join(f'{t:.2f}' for t in phase)} s")
    return times


async def measure(
    rounds: int, per_phase: int, calls: int, cpu_round_count: int = 3, cpu_only: bool = False
) -> dict[str, Any]:
    workdir = tempfile.TemporaryDirectory(prefix="bench-real-nova-")
    bed = RealTestbed([COMPUTE_CLOUD, IMAGE_CLOUD], compute=() if cpu_only else [COMPUTE_CLOUD])
    await bed.start(progress=True)
    processes: list[BaseProcess] = []
    result: dict[str, Any] = {}
    try:
        clouds_yaml = bed.write_clouds_yaml(Path(workdir.name) / "clouds.yaml")
        await with_seed_rule(clouds_yaml)
        proxy, proxy_url = await start_proxy(ProxyConfig(clouds_yaml=str(clouds_yaml)))
        processes.append(proxy)
        compute, image = bed.cloud(COMPUTE_CLOUD), bed.cloud(IMAGE_CLOUD)
        forwarder, forwarder_url = await start_forwarder(image.endpoints["image"])
        processes.append(forwarder)
        assert proxy.pid is not None and forwarder.pid is not None
        async with aiohttp.ClientSession() as http:
            user_token = await _proxied_token(http, proxy_url, SEED_SCOPE)
            if cpu_only:
                service_token = await _token(http, compute)  # Nova's stand-in
            else:
                times = await server_phases(http, bed, proxy_url, user_token, rounds, per_phase)
                result.update(_server_summary(times))
                service_token = await _token(
                    http, compute, username="nova", password="service-secret", project="service"
                )
            nova_shaped = {
                "X-Auth-Token": user_token,
                "X-Service-Token": service_token,
                "User-Agent": "python-glanceclient",
            }
            same_token = await _proxied_token(http, proxy_url, f"{{*: {COMPUTE_CLOUD}}}")
            contenders = [
                Contender(
                    CROSS,
                    proxy.pid,
                    f"{proxy_url}/image/v2/images/{image.image_id}",
                    nova_shaped,
                ),
                Contender(
                    FORWARDER,
                    forwarder.pid,
                    f"{forwarder_url}/v2/images/{image.image_id}",
                    # What reaches Glance on the cross-cloud path: a token of its own cloud,
                    # no service token (the proxy drops the caller's).
                    {
                        "X-Auth-Token": await _token(http, image),
                        "User-Agent": "python-glanceclient",
                    },
                ),
                Contender(
                    SAME,
                    proxy.pid,
                    f"{proxy_url}/image/v2/images/{compute.image_id}",
                    {**nova_shaped, "X-Auth-Token": same_token},
                ),
            ]
            found = await cpu_rounds(http, contenders, cpu_round_count, calls)
    finally:
        stop(*processes)
        workdir.cleanup()
        await bed.stop()
    result["proxy_cpu_us_per_nova_glance_call"] = {
        name: {
            "median": round(statistics.median(values) * 1e6, 1),
            "by_round": [round(v * 1e6, 1) for v in values],
        }
        for name, values in found.items()
    }
    result.setdefault("ratios", {}).update(
        {
            "CPU per Nova->Glance call: openstackoid cross-cloud / minimal forwarder": (
                median_ratio(found, CROSS, FORWARDER)
            ),
            "CPU per Nova->Glance call: openstackoid cross-cloud / same-cloud": median_ratio(
                found, CROSS, SAME
            ),
        }
    )
    return result


def _server_summary(times: dict[str, list[float]]) -> dict[str, Any]:
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
        "ratios": {
            "create to ACTIVE: proxy + cloud-999 image / cloud-1 alone": round(
                proxy_median / direct_median, 3
            ),
        },
    }


def run(quick: bool = False) -> dict[str, Any]:
    return asyncio.run(measure(rounds=2, per_phase=2 if quick else 5, calls=100 if quick else 500))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=2, help="server phases P D | D P ...")
    parser.add_argument("--per-phase", type=int, default=5, help="servers counted per phase")
    parser.add_argument("--calls", type=int, default=500, help="GETs per contender per round")
    parser.add_argument("--cpu-rounds", type=int, default=3, help="rounds of the CPU phase")
    parser.add_argument(
        "--cpu-only",
        action="store_true",
        help="only the CPU per Nova-shaped call: no Nova, no servers (Keystone and Glance)",
    )
    args = parser.parse_args()
    figures = measure(args.rounds, args.per_phase, args.calls, args.cpu_rounds, args.cpu_only)
    print(json.dumps(asyncio.run(figures), indent=2))


if __name__ == "__main__":
    main()
