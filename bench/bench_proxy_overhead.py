"""Proxy overhead in one run: direct to a testbed cloud, through nginx, HAProxy, a minimal
aiohttp forwarder (the baseline openstackoid is held to) and openstackoid. Each server is its
own process on loopback; the load is wrk (one thread) at 50 connections, then at 1 connection
for the added latency. CPU per request is the server's own CPU time over the requests it served.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import socket
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from rich.progress import Progress

from bench.contenders import Daemon, cpu_seconds, ensure_installed, start_haproxy, start_nginx
from bench.wrk import run_wrk

RESULTS = Path(__file__).parent / "results"
SCOPE = "{*: cloud-1}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_testbed(port: int, clouds_yaml: str) -> None:
    from testbed import Testbed

    async def main() -> None:
        bed = Testbed(clouds=1, port_base=port)
        await bed.start()
        bed.write_clouds_yaml(clouds_yaml)
        await asyncio.Event().wait()

    asyncio.run(main())


def _serve_forwarder(port: int, upstream: str) -> None:
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

    app = web.Application()
    app.on_startup.append(on_startup)
    app.router.add_route("*", "/{tail:.*}", forward)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def _serve_openstackoid(port: int, clouds_yaml: str) -> None:
    from proxy import ProxyConfig, make_app
    from registry import Registry, load_clouds_yaml

    registry = Registry(load_clouds_yaml(clouds_yaml))
    app = make_app(ProxyConfig(default_scope=SCOPE), registry)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def _wait_up(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url) as resp:
                    await resp.read()
                    return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


async def _token(auth_url: str) -> str:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "admin", "domain": {"name": "Default"}, "password": "secret"}
                },
            }
        }
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{auth_url}/auth/tokens", json=body) as resp:
            return resp.headers["X-Subject-Token"]


def _contend(
    name: str, url: str, pid: int | None, headers: dict[str, str], seconds: int
) -> dict[str, Any]:
    run_wrk(url, headers, 1, 50)  # warm-up: pools, caches, token validations
    before = cpu_seconds(pid) if pid else 0.0
    c50 = run_wrk(url, headers, seconds, 50)
    cpu = cpu_seconds(pid) - before if pid else 0.0
    c1 = run_wrk(url, headers, max(1, seconds // 2), 1)
    figures: dict[str, Any] = {"c50": c50.as_dict(), "c1": c1.as_dict()}
    if pid:
        figures["cpu_us_per_request"] = round(cpu / max(c50.requests, 1) * 1e6, 1)
    return figures


async def measure(quick: bool) -> dict[str, Any]:
    missing = ensure_installed("wrk", "nginx", "haproxy")
    if "wrk" in missing:
        return {"skipped": "wrk is not installed and could not be (apt-get install wrk)"}
    seconds = 4 if quick else 10
    ports = {name: _free_port() for name in ("testbed", "forwarder", "openstackoid")}
    clouds_yaml = str(RESULTS / "bench-clouds.yaml")
    RESULTS.mkdir(parents=True, exist_ok=True)
    testbed_url = f"http://127.0.0.1:{ports['testbed']}"
    ctx = multiprocessing.get_context("spawn")
    testbed = ctx.Process(target=_serve_testbed, args=(ports["testbed"], clouds_yaml), daemon=True)
    testbed.start()
    await _wait_up(f"{testbed_url}/identity/v3")
    forwarder = ctx.Process(
        target=_serve_forwarder, args=(ports["forwarder"], testbed_url), daemon=True
    )
    ours = ctx.Process(
        target=_serve_openstackoid, args=(ports["openstackoid"], clouds_yaml), daemon=True
    )
    processes = [testbed, forwarder, ours]
    daemons: list[Daemon] = []
    targets: dict[str, tuple[str, int | None]] = {"direct": (testbed_url, None)}
    try:
        for process in (forwarder, ours):
            process.start()
        for name, start in (("nginx", start_nginx), ("haproxy", start_haproxy)):
            if name in missing:
                continue
            port = _free_port()
            daemons.append(start(port, ports["testbed"]))
            targets[name] = (f"http://127.0.0.1:{port}", daemons[-1].pid)
        targets["minimal_forwarder"] = (f"http://127.0.0.1:{ports['forwarder']}", forwarder.pid)
        targets["openstackoid"] = (f"http://127.0.0.1:{ports['openstackoid']}", ours.pid)
        for base, _ in targets.values():
            await _wait_up(f"{base}/identity/v3")
        token = await _token(f"{testbed_url}/identity/v3")
        headers = {"X-Auth-Token": token, "X-Scope": SCOPE}
        results: dict[str, Any] = {}
        with Progress() as progress:
            task = progress.add_task("proxy overhead", total=len(targets))
            for name, (base, pid) in targets.items():
                progress.update(task, description=f"wrk -> {name}")
                url = f"{base}/image/v2/images"
                results[name] = await asyncio.to_thread(_contend, name, url, pid, headers, seconds)
                progress.advance(task)
    finally:
        for daemon in daemons:
            daemon.stop()
        for process in processes:
            process.kill()
    if missing:
        results["not_installed"] = missing
    base = results["minimal_forwarder"]
    ours_figures = results["openstackoid"]
    direct = results["direct"]
    results["ratios"] = {
        "openstackoid / forwarder req/s (c50)": round(
            ours_figures["c50"]["requests_per_s"] / base["c50"]["requests_per_s"], 3
        ),
        "openstackoid / direct req/s (c50)": round(
            ours_figures["c50"]["requests_per_s"] / direct["c50"]["requests_per_s"], 3
        ),
        "forwarder / openstackoid CPU per request": round(
            base["cpu_us_per_request"] / ours_figures["cpu_us_per_request"], 3
        ),
    }
    for name in ("nginx", "haproxy"):
        if name in results:
            results["ratios"][f"openstackoid / {name} req/s (c50)"] = round(
                ours_figures["c50"]["requests_per_s"] / results[name]["c50"]["requests_per_s"], 3
            )
    direct_p50 = direct["c1"]["p50_ms"]
    results["added_p50_ms_c1"] = {
        name: round(figures["c1"]["p50_ms"] - direct_p50, 3)
        for name, figures in results.items()
        if isinstance(figures, dict) and "c1" in figures and name != "direct"
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
