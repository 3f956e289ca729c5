"""Proxy overhead in one run: direct to a testbed cloud, through nginx, HAProxy, a minimal
aiohttp forwarder (the baseline openstackoid is held to) and openstackoid. Each server is its
own process on loopback; the load is wrk (one thread) at 50 connections, then at 1 connection
for the added latency.

Throughput per core is 1 / (the server's own CPU time per request). This machine's CPU time
drifts by +-30 % between runs (a shared VM), so contenders run in alternating rounds and each
ratio is the median of per-round ratios. With two cores or more, the contender under test gets
core 1 to itself; wrk and the cloud share core 0.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import statistics
import tempfile
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from rich.progress import Progress

from bench.contenders import (
    Daemon,
    cpu_seconds,
    ensure_installed,
    start_haproxy,
    start_nginx,
)
from bench.servers import (
    Fleet,
    auth_url,
    free_port,
    issue_token,
    start_proxy,
    start_testbed,
    stop,
    wait_up,
)
from bench.wrk import WrkResult, run_wrk
from proxy import ProxyConfig
from proxy.cli import new_event_loop
from proxy.config import EventLoopName

RESULTS = Path(__file__).parent / "results"
SCOPE = "{*: cloud-1}"
PINNED = (os.cpu_count() or 1) >= 2
BASELINE = "minimal_forwarder"
SPAWN = multiprocessing.get_context("spawn")


def _serve_forwarder(port: int, upstream: str, event_loop: EventLoopName) -> None:
    """The smallest useful aiohttp reverse proxy: the baseline openstackoid is held to."""

    async def on_startup(app: web.Application) -> None:
        app["session"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=0)
        )

    async def forward(request: web.Request) -> web.Response:
        session: aiohttp.ClientSession = request.app["session"]
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with session.request(
            request.method, upstream + request.path_qs, headers=headers
        ) as resp:
            body = await resp.read()
            return web.Response(status=resp.status, body=body, content_type=resp.content_type)

    async def on_cleanup(app: web.Application) -> None:
        await app["session"].close()

    app = web.Application()
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_route("*", "/{tail:.*}", forward)
    loop = new_event_loop(event_loop)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=loop)


def _pin(pid: int | None, core: int) -> None:
    if PINNED and pid is not None:
        os.sched_setaffinity(pid, {core})


def _loaded(url: str, pid: int | None, headers: dict[str, str], seconds: int) -> dict[str, Any]:
    before = cpu_seconds(pid) if pid else 0.0
    result = run_wrk(url, headers, seconds, 50, cores="0" if PINNED else None)
    cpu = cpu_seconds(pid) - before if pid else 0.0
    return {"wrk": result, "cpu_us_per_request": cpu / max(result.requests, 1) * 1e6}


def _summary(rounds: list[dict[str, Any]], c1: WrkResult) -> dict[str, Any]:
    middle = sorted(rounds, key=lambda r: r["wrk"].requests_per_s)[len(rounds) // 2]
    return {
        "c50": {**middle["wrk"].as_dict(), "errors": sum(r["wrk"].errors for r in rounds)},
        "c50_requests_per_s_by_round": [round(r["wrk"].requests_per_s, 1) for r in rounds],
        "cpu_us_per_request": round(statistics.median(r["cpu_us_per_request"] for r in rounds), 1),
        "cpu_us_per_request_by_round": [round(r["cpu_us_per_request"], 1) for r in rounds],
        "c1": c1.as_dict(),
    }


def _median_ratio(
    rounds: dict[str, list[dict[str, Any]]], name: str, figure: Callable[[dict[str, Any]], float]
) -> float:
    ratios = [
        figure(ours) / figure(base)
        for ours, base in zip(rounds[name], rounds[BASELINE], strict=True)
    ]
    return round(statistics.median(ratios), 3)


async def measure(quick: bool) -> dict[str, Any]:
    missing = ensure_installed("wrk", "nginx", "haproxy")
    if "wrk" in missing:
        return {"skipped": "wrk is not installed and could not be (apt-get install wrk)"}
    seconds, round_count = (2, 3) if quick else (3, 4)
    workdir = tempfile.TemporaryDirectory(prefix="bench-overhead-")
    testbed, clouds_yaml = await start_testbed(Fleet(clouds=1), Path(workdir.name))
    keystone = auth_url(clouds_yaml)
    testbed_url = keystone.removesuffix("/identity/v3")
    testbed_port = int(testbed_url.rsplit(":", 1)[1])
    _pin(testbed.pid, 0)
    processes: list[BaseProcess] = [testbed]
    daemons: list[Daemon] = []
    targets: dict[str, tuple[str, int | None]] = {"direct": (testbed_url, None)}
    try:
        for name, start in (("nginx", start_nginx), ("haproxy", start_haproxy)):
            if name not in missing:
                port = free_port()
                daemons.append(start(port, testbed_port))
                targets[name] = (f"http://127.0.0.1:{port}", daemons[-1].pid)
        for name, event_loop in ((BASELINE, "asyncio"), ("minimal_forwarder_uvloop", "uvloop")):
            port = free_port()
            forwarder = SPAWN.Process(
                target=_serve_forwarder, args=(port, testbed_url, event_loop), daemon=True
            )
            forwarder.start()
            processes.append(forwarder)
            targets[name] = (f"http://127.0.0.1:{port}", forwarder.pid)
        ours: tuple[tuple[str, EventLoopName], ...] = (
            ("openstackoid", "uvloop"),
            ("openstackoid_asyncio_loop", "asyncio"),
        )
        for name, event_loop in ours:
            config = ProxyConfig(
                clouds_yaml=clouds_yaml, default_scope=SCOPE, event_loop=event_loop
            )
            proxy, base = await start_proxy(config)
            processes.append(proxy)
            targets[name] = (base, proxy.pid)
        for base, pid in targets.values():
            await wait_up(f"{base}/identity/v3")
            if pid:
                _pin(pid, 1)
        for daemon in daemons:  # nginx works in a child forked before the pin
            for child in Path(f"/proc/{daemon.pid}/task/{daemon.pid}/children").read_text().split():
                _pin(int(child), 1)
        token = await issue_token(clouds_yaml)
        headers = {"X-Auth-Token": token, "X-Scope": SCOPE}
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        c1: dict[str, WrkResult] = {}
        with Progress() as progress:
            task = progress.add_task("proxy overhead", total=len(targets) * (round_count + 1))
            for base, _ in targets.values():  # warm-up: pools, caches, validations
                await asyncio.to_thread(run_wrk, f"{base}/image/v2/images", headers, 1, 50)
            for number in range(round_count):
                for name, (base, pid) in targets.items():
                    progress.update(task, description=f"round {number + 1}: {name}")
                    url = f"{base}/image/v2/images"
                    figures = await asyncio.to_thread(_loaded, url, pid, headers, seconds)
                    rounds[name].append(figures)
                    progress.advance(task)
            for name, (base, _) in targets.items():
                progress.update(task, description=f"1 connection: {name}")
                c1[name] = await asyncio.to_thread(
                    run_wrk, f"{base}/image/v2/images", headers, seconds, 1
                )
                progress.advance(task)
    finally:
        for daemon in daemons:
            daemon.stop()
        stop(*processes)
        workdir.cleanup()
    results: dict[str, Any] = {name: _summary(rounds[name], c1[name]) for name in targets}
    results["pinned_cores"] = PINNED
    failed = {
        name: figures["c50"]["errors"]
        for name, figures in results.items()
        if isinstance(figures, dict) and figures["c50"]["errors"]
    }
    if failed:
        # A contender answering errors fast is not faster: no ratios from such a run.
        results["failed"] = failed
        return results
    if missing:
        results["not_installed"] = missing

    def per_core(figures: dict[str, Any]) -> float:
        return 1 / max(float(figures["cpu_us_per_request"]), 1e-9)

    def rate(figures: dict[str, Any]) -> float:
        return float(figures["wrk"].requests_per_s)

    results["ratios"] = {
        "openstackoid / forwarder throughput per core": _median_ratio(
            rounds, "openstackoid", per_core
        ),
        "openstackoid (asyncio loop) / forwarder throughput per core": _median_ratio(
            rounds, "openstackoid_asyncio_loop", per_core
        ),
        "openstackoid / forwarder (uvloop) throughput per core": round(
            statistics.median(
                per_core(a) / per_core(b)
                for a, b in zip(
                    rounds["openstackoid"], rounds["minimal_forwarder_uvloop"], strict=True
                )
            ),
            3,
        ),
        "openstackoid / forwarder req/s (c50)": _median_ratio(rounds, "openstackoid", rate),
        "openstackoid / direct req/s (c50)": round(
            statistics.median(
                rate(a) / rate(b)
                for a, b in zip(rounds["openstackoid"], rounds["direct"], strict=True)
            ),
            3,
        ),
    }
    for name in ("nginx", "haproxy"):
        if name in rounds:
            results["ratios"][f"openstackoid / {name} req/s (c50)"] = round(
                statistics.median(
                    rate(a) / rate(b)
                    for a, b in zip(rounds["openstackoid"], rounds[name], strict=True)
                ),
                3,
            )
    direct_p50 = c1["direct"].p50_ms
    results["added_p50_ms_c1"] = {
        name: round(result.p50_ms - direct_p50, 3)
        for name, result in c1.items()
        if name != "direct"
    }
    return results


def run(quick: bool = False) -> dict[str, Any]:
    return asyncio.run(measure(quick))


def main() -> None:
    figures = run()
    (RESULTS / "proxy_overhead.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
