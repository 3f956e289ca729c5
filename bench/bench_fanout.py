"""Fan-out: `GET /image/v2/images` with the image service scoped to `&` over 10, 100 and
1,000 clouds, each cloud answering after a simulated edge latency. Compared, in the same run,
with the slowest single cloud (the floor a perfect fan-out would reach) and with the sum of
single-cloud latencies (what asking the clouds one by one would cost).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from rich.progress import Progress

from bench.servers import Fleet, issue_token, start_proxy, start_testbed, stop
from openstackoid.proxy import ProxyConfig

WIDTHS = (10, 100, 1_000)
EDGE_LATENCY = 0.02
"""Seconds each simulated cloud waits before answering."""


def _scope(width: int) -> str:
    if width >= 1000:
        return "{keystone: cloud-1; image: cloud-*}"  # a glob: every registered cloud
    return (
        "{keystone: cloud-1; image: " + " & ".join(f"cloud-{i}" for i in range(1, width + 1)) + "}"
    )


async def _timed_get(session: aiohttp.ClientSession, url: str, scope: str) -> tuple[float, int]:
    started = time.perf_counter()
    async with session.get(url, headers={"X-Scope": scope}) as response:
        body = await response.json()
        if response.status != 200:
            raise RuntimeError(f"{scope[:60]}: {response.status} {body}")
    return time.perf_counter() - started, len(body["images"])


async def measure(quick: bool) -> dict[str, Any]:
    repeats = 3 if quick else 7
    workdir = tempfile.TemporaryDirectory(prefix="bench-fanout-")
    latency = {"latency": EDGE_LATENCY}
    fleet = Fleet(
        clouds=max(WIDTHS),
        shared_identity=True,
        faults={f"cloud-{i}": latency for i in range(1, max(WIDTHS) + 1)},
    )
    results: dict[str, Any] = {"edge_latency_ms": EDGE_LATENCY * 1000}
    processes = []
    try:
        bed, clouds_yaml = await start_testbed(fleet, Path(workdir.name))
        processes.append(bed)
        config = ProxyConfig(clouds_yaml=clouds_yaml, identity_strategy="passthrough")
        proxy, base = await start_proxy(config)
        processes.append(proxy)
        url = f"{base}/image/v2/images"
        token = await issue_token(clouds_yaml)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(
            connector=connector, headers={"X-Auth-Token": token}
        ) as session:
            with Progress() as progress:
                task = progress.add_task("single clouds", total=max(WIDTHS))
                single: list[float] = []
                for i in range(1, max(WIDTHS) + 1):  # also warms the proxy's pool per cloud
                    seconds, _ = await _timed_get(session, url, f"{{*: cloud-{i}}}")
                    single.append(seconds)
                    progress.advance(task)
                fan = progress.add_task("fan-out", total=len(WIDTHS) * repeats)
                for width in WIDTHS:
                    scope = _scope(width)
                    await _timed_get(session, url, scope)  # warm-up: plan, parse
                    latencies = []
                    images = 0
                    for _ in range(repeats):
                        seconds, images = await _timed_get(session, url, scope)
                        latencies.append(seconds)
                        progress.advance(fan)
                    slowest = max(single[:width])
                    total = sum(single[:width])
                    p50 = statistics.median(latencies)
                    results[f"{width}_clouds"] = {
                        "fan_out_p50_ms": round(p50 * 1000, 1),
                        "slowest_single_ms": round(slowest * 1000, 1),
                        "sum_of_singles_ms": round(total * 1000, 1),
                        "images_merged": images,
                    }
    finally:
        stop(*processes)
        workdir.cleanup()
    results["ratios"] = {}
    for width in WIDTHS:
        figures = results[f"{width}_clouds"]
        results["ratios"][f"fan-out over {width} / slowest single cloud (latency)"] = round(
            figures["fan_out_p50_ms"] / figures["slowest_single_ms"], 2
        )
        results["ratios"][f"fan-out over {width} / one cloud after another (latency)"] = round(
            figures["fan_out_p50_ms"] / figures["sum_of_singles_ms"], 3
        )
    return results


def run(quick: bool = False) -> dict[str, Any]:
    return asyncio.run(measure(quick))


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
