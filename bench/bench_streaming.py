"""Streaming: a 1 GiB image uploaded and downloaded through the proxy and directly, in the
same run: throughput ratio, and the proxy's RSS growth (sampled during the transfer)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from rich.progress import Progress

from bench.contenders import cpu_seconds, rss_mb
from bench.servers import Fleet, auth_url, issue_token, start_proxy, start_testbed, stop
from openstackoid.proxy import ProxyConfig

CHUNK = 1024 * 1024
SCOPE = "{*: cloud-1}"


async def _body(size: int, progress: Progress, task: Any) -> AsyncIterator[bytes]:
    block = b"\x5a" * CHUNK
    for _ in range(size // CHUNK):
        yield block
        progress.advance(task, CHUNK)


async def _round_trip(
    session: aiohttp.ClientSession,
    image_url: str,
    size: int,
    progress: Progress,
    label: str,
    proxy_pid: int | None = None,
) -> dict[str, float]:
    """Upload then download `size` bytes: MB/s each way, and with `proxy_pid` the proxy's CPU
    seconds per GiB each way (what a core can carry, whatever the client and cloud cost)."""
    gib = size / 2**30
    create = {"name": f"bench-{label}", "disk_format": "raw", "container_format": "bare"}
    async with session.post(image_url, json=create) as response:
        image = await response.json()
        if response.status != 201:
            raise RuntimeError(f"image create failed: {response.status} {image}")
    file_url = f"{image_url}/{image['id']}/file"
    task = progress.add_task(f"{label}: upload", total=size)
    cpu = cpu_seconds(proxy_pid) if proxy_pid else 0.0
    started = time.perf_counter()
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
    async with session.put(file_url, data=_body(size, progress, task), headers=headers) as resp:
        await resp.read()
        if resp.status != 204:
            raise RuntimeError(f"upload failed: {resp.status}")
    upload = time.perf_counter() - started
    figures = {}
    if proxy_pid:
        figures["proxy_cpu_s_per_gib_up"] = (cpu_seconds(proxy_pid) - cpu) / gib
        cpu = cpu_seconds(proxy_pid)
    task = progress.add_task(f"{label}: download", total=size)
    started = time.perf_counter()
    received = 0
    async with session.get(file_url) as resp:
        async for chunk in resp.content.iter_chunked(CHUNK):
            received += len(chunk)
            progress.advance(task, len(chunk))
    download = time.perf_counter() - started
    if received != size:
        raise RuntimeError(f"downloaded {received} of {size} bytes")
    if proxy_pid:
        figures["proxy_cpu_s_per_gib_down"] = (cpu_seconds(proxy_pid) - cpu) / gib
    return {"upload_mb_s": size / upload / 1e6, "download_mb_s": size / download / 1e6, **figures}


async def _sample_rss(pid: int, peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mb(pid))
        await asyncio.sleep(0.1)


async def measure(quick: bool) -> dict[str, Any]:
    size = (256 if quick else 1024) * CHUNK
    workdir = tempfile.TemporaryDirectory(prefix="bench-streaming-")
    processes = []
    try:
        bed, clouds_yaml = await start_testbed(Fleet(clouds=1), Path(workdir.name))
        processes.append(bed)
        proxy, base = await start_proxy(ProxyConfig(clouds_yaml=clouds_yaml, default_scope=SCOPE))
        processes.append(proxy)
        assert proxy.pid is not None
        keystone = auth_url(clouds_yaml)
        token = await issue_token(clouds_yaml)
        direct_url = keystone.replace("/identity/v3", "/image/v2/images")
        proxied_url = f"{base}/image/v2/images"
        timeout = aiohttp.ClientTimeout(total=None)
        async with aiohttp.ClientSession(
            headers={"X-Auth-Token": token, "X-Scope": SCOPE}, timeout=timeout
        ) as session:
            with Progress() as progress:
                direct = await _round_trip(session, direct_url, size, progress, "direct")
                rss_before = rss_mb(proxy.pid)
                peak = [rss_before]
                done = asyncio.Event()
                async with asyncio.TaskGroup() as group:
                    group.create_task(_sample_rss(proxy.pid, peak, done))
                    try:
                        proxied = await _round_trip(
                            session, proxied_url, size, progress, "proxy", proxy.pid
                        )
                    finally:
                        done.set()
    finally:
        stop(*processes)
        workdir.cleanup()
    return {
        "bytes": size,
        "direct": {k: round(v, 1) for k, v in direct.items()},
        "through_proxy": {k: round(v, 3) for k, v in proxied.items()},
        "proxy_rss_mb_before": rss_before,
        "proxy_rss_mb_peak": peak[0],
        "ratios": {
            "upload throughput: proxy / direct": round(
                proxied["upload_mb_s"] / direct["upload_mb_s"], 3
            ),
            "download throughput: proxy / direct": round(
                proxied["download_mb_s"] / direct["download_mb_s"], 3
            ),
            "proxy peak RSS / RSS before": round(peak[0] / rss_before, 3),
        },
    }


def run(quick: bool = False) -> dict[str, Any]:
    return asyncio.run(measure(quick))


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
