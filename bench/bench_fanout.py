"""Fan-out: `GET /image/v2/images` with the image service scoped to `&` over 10, 100 and
1,000 clouds, each cloud answering after a simulated edge latency. Compared, in the same run,
with the slowest single cloud (the floor a perfect fan-out would reach) and with the sum of
single-cloud latencies (what asking the clouds one by one would cost).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from rich.progress import Progress

from bench.bench_proxy_overhead import _free_port, _token, _wait_up
from bench.bench_scale import _auth_url, _raise_fd_limit

WIDTHS = (10, 100, 1_000)
EDGE_LATENCY = 0.02
"""Seconds each simulated cloud waits before answering."""


def _serve_testbed(clouds: int, clouds_yaml: str, ready: str) -> None:
    _raise_fd_limit()
    from testbed import Faults, Testbed

    async def main() -> None:
        bed = Testbed(clouds=clouds, shared_identity=True)
        await bed.start()
        for info in bed.clouds:
            await bed.set_faults(info.name, Faults(latency=EDGE_LATENCY))
        bed.write_clouds_yaml(clouds_yaml)
        Path(ready).write_text("up")
        await asyncio.Event().wait()

    asyncio.run(main())


def _serve_proxy(port: int, clouds_yaml: str) -> None:
    _raise_fd_limit()
    from proxy import ProxyConfig
    from proxy.cli import serve

    config = ProxyConfig(
        host="127.0.0.1",
        port=port,
        clouds_yaml=clouds_yaml,
        identity_strategy="passthrough",
    )
    serve(config)


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
    clouds_yaml = str(Path(workdir.name) / "clouds.yaml")
    ready = Path(workdir.name) / "ready"
    ctx = multiprocessing.get_context("spawn")
    bed = ctx.Process(target=_serve_testbed, args=(max(WIDTHS), clouds_yaml, str(ready)))
    bed.daemon = True
    port = _free_port()
    proxy = ctx.Process(target=_serve_proxy, args=(port, clouds_yaml), daemon=True)
    results: dict[str, Any] = {"edge_latency_ms": EDGE_LATENCY * 1000}
    try:
        bed.start()
        for _ in range(1200):
            if ready.exists():
                break
            await asyncio.sleep(0.05)
        proxy.start()
        url = f"http://127.0.0.1:{port}/image/v2/images"
        await _wait_up(f"http://127.0.0.1:{port}/healthz")
        token = await _token(_auth_url(clouds_yaml))
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
        proxy.kill()
        bed.kill()
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
