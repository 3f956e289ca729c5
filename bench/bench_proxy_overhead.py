"""Proxy overhead in one run: direct to a testbed cloud, through nginx, HAProxy, a minimal
aiohttp forwarder (the baseline openstackoid is held to) and openstackoid. Each server is its
own process on loopback; the load is wrk (one thread) at 50 connections, then at 1 connection
for the added latency.

Throughput per core is 1 / (the server's own CPU time per request). This machine's CPU time
drifts by +-30 % between runs (a shared VM), so contenders run in alternating rounds and each
ratio is the median of per-round ratios. With two cores or more, the contender under test gets
core 1 to itself; wrk and the cloud share core 0.

Pairs are like for like: openstackoid on uvloop against the forwarder on uvloop, on asyncio
against the forwarder on asyncio. Two paths through openstackoid: one cloud for everything
(`{*: cloud-1}`), and the default cross-cloud identity path (`{keystone: cloud-1; glance:
cloud-2}`: a cloud-1 token, validated once and cached, swapped for cloud-2's service token).

OPENSTACKOID_BENCH_BEFORE=<git ref> also runs openstackoid as it was at that ref (extracted
with git archive, served from its own interpreter) in the same rounds: `after / before`
ratios say whether a change cost speed. The rounds' own after/before ratio drifts with the
machine's load between one contender's turn and the next; the `side by side` ratios load
both at once on the same core (same load, same moment), and spread far less.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
from bench.report import save_and_print
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
from openstackoid.proxy import ProxyConfig
from openstackoid.proxy.cli import new_event_loop
from openstackoid.proxy.config import EventLoopName

SCOPE = "{*: cloud-1}"
CROSS_SCOPE = "{keystone: cloud-1; glance: cloud-2}"
PINNED = (os.cpu_count() or 1) >= 2
BASELINE = "minimal_forwarder"
BASELINE_UVLOOP = "minimal_forwarder_uvloop"
REPO = Path(__file__).parent.parent
PAIRS = {
    "openstackoid / forwarder throughput per core": ("openstackoid", BASELINE_UVLOOP),
    "openstackoid (asyncio loop) / forwarder throughput per core": (
        "openstackoid_asyncio_loop",
        BASELINE,
    ),
    "openstackoid cross-cloud identity / forwarder throughput per core": (
        "openstackoid_cross_cloud",
        BASELINE_UVLOOP,
    ),
}
"""Ratio name -> (contender, its like-for-like baseline)."""
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


@dataclass(frozen=True)
class Target:
    url: str
    """The image listing through this contender."""
    pid: int | None
    headers: dict[str, str]


def _pin(pid: int | None, core: int) -> None:
    if PINNED and pid is not None:
        os.sched_setaffinity(pid, {core})


def _loaded(target: Target, seconds: int) -> dict[str, Any]:
    pid = target.pid
    before = cpu_seconds(pid) if pid else 0.0
    result = run_wrk(target.url, target.headers, seconds, 50, cores="0" if PINNED else None)
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


def _per_core(figures: dict[str, Any]) -> float:
    return 1 / max(float(figures["cpu_us_per_request"]), 1e-9)


def _rate(figures: dict[str, Any]) -> float:
    return float(figures["wrk"].requests_per_s)


def _median_ratio(
    rounds: dict[str, list[dict[str, Any]]],
    name: str,
    base: str,
    figure: Callable[[dict[str, Any]], float] = _per_core,
) -> float:
    """The median over rounds of name / base: both measured in the same round."""
    ratios = [figure(a) / figure(b) for a, b in zip(rounds[name], rounds[base], strict=True)]
    return round(statistics.median(ratios), 3)


def _side_by_side(after: Target, before: Target, seconds: int, round_count: int) -> float:
    """after / before throughput per core, both loaded at once (wrk at 25 connections
    each) on the same core: the median of `round_count` rounds after a warm-up."""
    pair = (after, before)

    def load(target: Target) -> WrkResult:
        return run_wrk(target.url, target.headers, seconds, 25, cores="0" if PINNED else None)

    ratios = []
    for number in range(round_count + 1):
        cpu = [cpu_seconds(t.pid) if t.pid else 0.0 for t in pair]
        with ThreadPoolExecutor(len(pair)) as threads:
            loads = list(threads.map(load, pair))
        per_request = [
            ((cpu_seconds(t.pid) if t.pid else 0.0) - spent) / max(result.requests, 1)
            for t, spent, result in zip(pair, cpu, loads, strict=True)
        ]
        if number:  # the first warms both up
            ratios.append(per_request[1] / max(per_request[0], 1e-12))
    return round(statistics.median(ratios), 3)


def _before(name: str) -> str:
    """The contender's name for openstackoid as it was at OPENSTACKOID_BENCH_BEFORE."""
    return name.replace("openstackoid", "openstackoid_before", 1)


def _extract(ref: str) -> tempfile.TemporaryDirectory[str]:
    """The repository's files at `ref`, in a temporary directory."""
    checkout = tempfile.TemporaryDirectory(prefix="bench-before-")
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", checkout.name], input=archive, check=True)
    return checkout


def _before_command(checkout: str) -> list[str]:
    """The checkout's own entry point: a top-level script before the packages moved under
    `openstackoid`, the package's cli module after."""
    if Path(checkout, "openstackoid_cli.py").exists():
        return [sys.executable, f"{checkout}/openstackoid_cli.py"]
    boot = f"import sys; sys.path.insert(0, {checkout!r}); from openstackoid.cli import main; "
    boot += "sys.exit(main())"
    return [sys.executable, "-c", boot]


def _start_before(checkout: str, clouds_yaml: str, event_loop: EventLoopName) -> tuple[Daemon, str]:
    """openstackoid as it was: its own interpreter, its files first on sys.path."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        *_before_command(checkout),
        "proxy",
        "--clouds-yaml",
        clouds_yaml,
        "--default-scope",
        SCOPE,
        "--port",
        str(port),
        "--public-url",
        base,
        "--event-loop",
        event_loop,
    ]
    workdir = tempfile.TemporaryDirectory(prefix="bench-before-run-")
    log = open(Path(workdir.name) / "out.log", "wb")  # noqa: SIM115 - lives with the daemon
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=checkout)
    return Daemon(f"openstackoid before ({event_loop})", process, workdir), base


async def measure(quick: bool) -> dict[str, Any]:
    missing = ensure_installed("wrk", "nginx", "haproxy")
    if "wrk" in missing:
        return {"skipped": "wrk is not installed and could not be (apt-get install wrk)"}
    seconds, round_count = (2, 3) if quick else (3, 4)
    before_ref = os.environ.get("OPENSTACKOID_BENCH_BEFORE")
    workdir = tempfile.TemporaryDirectory(prefix="bench-overhead-")
    checkout = _extract(before_ref) if before_ref else None
    # The cross-cloud path needs the operator's mapping rule (the default is deny).
    fleet = Fleet(clouds=2, fleet_rules=True)
    testbed, clouds_yaml = await start_testbed(fleet, Path(workdir.name))
    keystone = auth_url(clouds_yaml)
    testbed_url = keystone.removesuffix("/identity/v3")
    testbed_port = int(testbed_url.rsplit(":", 1)[1])
    _pin(testbed.pid, 0)
    processes: list[BaseProcess] = [testbed]
    daemons: list[Daemon] = []
    token = await issue_token(clouds_yaml)
    one_cloud = {"X-Auth-Token": token, "X-Scope": SCOPE}
    cross_cloud = {"X-Auth-Token": token, "X-Scope": CROSS_SCOPE}
    listing = "/image/v2/images"
    targets: dict[str, Target] = {"direct": Target(testbed_url + listing, None, one_cloud)}
    pairs = dict(PAIRS)
    try:
        for name, start in (("nginx", start_nginx), ("haproxy", start_haproxy)):
            if name not in missing:
                port = free_port()
                daemons.append(start(port, testbed_port))
                url = f"http://127.0.0.1:{port}{listing}"
                targets[name] = Target(url, daemons[-1].pid, one_cloud)
        for name, event_loop in ((BASELINE, "asyncio"), (BASELINE_UVLOOP, "uvloop")):
            port = free_port()
            forwarder = SPAWN.Process(
                target=_serve_forwarder, args=(port, testbed_url, event_loop), daemon=True
            )
            forwarder.start()
            processes.append(forwarder)
            targets[name] = Target(f"http://127.0.0.1:{port}{listing}", forwarder.pid, one_cloud)
        bases: dict[str, tuple[str, int | None]] = {}
        loops: tuple[tuple[str, EventLoopName], ...] = (
            ("", "uvloop"),
            ("_asyncio_loop", "asyncio"),
        )
        for suffix, event_loop in loops:
            config = ProxyConfig(
                clouds_yaml=clouds_yaml, default_scope=SCOPE, event_loop=event_loop
            )
            proxy, base = await start_proxy(config)
            processes.append(proxy)
            bases[f"openstackoid{suffix}"] = (base, proxy.pid)
            if checkout is not None:
                daemon, before_base = _start_before(checkout.name, clouds_yaml, event_loop)
                daemons.append(daemon)
                bases[f"openstackoid_before{suffix}"] = (before_base, daemon.pid)
        for name, (base, pid) in bases.items():
            targets[name] = Target(base + listing, pid, one_cloud)
            if not name.endswith("_asyncio_loop"):  # the cross-cloud path on uvloop
                targets[f"{name}_cross_cloud"] = Target(base + listing, pid, cross_cloud)
        if checkout is not None:
            for ratio, (name, base_name) in PAIRS.items():
                pairs[f"before: {ratio}"] = (
                    name.replace("openstackoid", "openstackoid_before", 1),
                    base_name,
                )
        for target in targets.values():
            await wait_up(target.url.removesuffix(listing) + "/identity/v3")
            _pin(target.pid, 1)
        for daemon in daemons:  # nginx works in a child forked before the pin
            for child in Path(f"/proc/{daemon.pid}/task/{daemon.pid}/children").read_text().split():
                _pin(int(child), 1)
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        c1: dict[str, WrkResult] = {}
        with Progress() as progress:
            task = progress.add_task("proxy overhead", total=len(targets) * (round_count + 1))
            for target in targets.values():  # warm-up: pools, caches, validations
                await asyncio.to_thread(run_wrk, target.url, target.headers, 1, 50)
            for number in range(round_count):
                for name, target in targets.items():
                    progress.update(task, description=f"round {number + 1}: {name}")
                    figures = await asyncio.to_thread(_loaded, target, seconds)
                    rounds[name].append(figures)
                    progress.advance(task)
            for name, target in targets.items():
                progress.update(task, description=f"1 connection: {name}")
                c1[name] = await asyncio.to_thread(run_wrk, target.url, target.headers, seconds, 1)
                progress.advance(task)
        side_by_side = {}
        if checkout is not None:
            for ratio, (name, _) in PAIRS.items():
                after, before = targets[name], targets[_before(name)]
                side_by_side[f"after / before side by side: {ratio}"] = await asyncio.to_thread(
                    _side_by_side, after, before, seconds, round_count
                )
    finally:
        for daemon in daemons:
            daemon.stop()
        stop(*processes)
        workdir.cleanup()
        if checkout is not None:
            checkout.cleanup()
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
    ratios = {ratio: _median_ratio(rounds, *pair) for ratio, pair in pairs.items()}
    ratios.update(side_by_side)
    if before_ref:
        results["before"] = before_ref
        for ratio, (name, _) in PAIRS.items():
            # Both against the same forwarder round: after / before of the ratios.
            ratios[f"after / before: {ratio}"] = _median_ratio(rounds, name, _before(name))
    ratios["openstackoid / forwarder req/s (c50)"] = _median_ratio(
        rounds, "openstackoid", BASELINE_UVLOOP, _rate
    )
    for name in ("direct", "nginx", "haproxy"):
        if name in rounds:
            ratios[f"openstackoid / {name} req/s (c50)"] = _median_ratio(
                rounds, "openstackoid", name, _rate
            )
    results["ratios"] = ratios
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
    save_and_print("proxy_overhead.json", run())


if __name__ == "__main__":
    main()
