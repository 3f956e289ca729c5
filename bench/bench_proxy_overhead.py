"""Proxy overhead in one run: direct to a testbed cloud, through a minimal aiohttp
forwarder (the baseline), and through openstackoid. Each server is its own process; the
load comes from this process (aiohttp client, 50 connections)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

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


async def load(
    url: str, headers: dict[str, str], seconds: float, connections: int
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(url) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(connections)))
    latencies.sort()
    return {
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
        "errors": errors,
    }


async def measure(quick: bool) -> dict[str, Any]:
    seconds = 2.0 if quick else 5.0
    testbed_port, forwarder_port, proxy_port = _free_port(), _free_port(), _free_port()
    clouds_yaml = str(RESULTS / "bench-clouds.yaml")
    RESULTS.mkdir(parents=True, exist_ok=True)
    testbed_url = f"http://127.0.0.1:{testbed_port}"
    ctx = multiprocessing.get_context("spawn")
    servers = [ctx.Process(target=_serve_testbed, args=(testbed_port, clouds_yaml), daemon=True)]
    servers[0].start()
    await _wait_up(f"{testbed_url}/identity/v3")
    servers += [
        ctx.Process(target=_serve_forwarder, args=(forwarder_port, testbed_url), daemon=True),
        ctx.Process(target=_serve_openstackoid, args=(proxy_port, clouds_yaml), daemon=True),
    ]
    for server in servers[1:]:
        server.start()
    try:
        await _wait_up(f"http://127.0.0.1:{forwarder_port}/identity/v3")
        await _wait_up(f"http://127.0.0.1:{proxy_port}/healthz")
        token = await _token(f"{testbed_url}/identity/v3")
        headers = {"X-Auth-Token": token, "X-Scope": SCOPE}
        targets = {
            "direct": f"{testbed_url}/image/v2/images",
            "minimal_forwarder": f"http://127.0.0.1:{forwarder_port}/image/v2/images",
            "openstackoid": f"http://127.0.0.1:{proxy_port}/image/v2/images",
        }
        results: dict[str, Any] = {}
        for name, url in targets.items():
            await load(url, headers, 0.5, 50)  # warm-up: pools, caches
            results[name] = {
                "c50": await load(url, headers, seconds, 50),
                "c1": await load(url, headers, seconds / 2, 1),
            }
    finally:
        for server in servers:
            server.kill()
    base = results["minimal_forwarder"]
    ours = results["openstackoid"]
    direct_p50 = results["direct"]["c1"]["p50_ms"]
    results["ratios"] = {
        "openstackoid / forwarder req/s (c50)": round(
            ours["c50"]["requests_per_s"] / base["c50"]["requests_per_s"], 3
        ),
        "openstackoid / direct req/s (c50)": round(
            ours["c50"]["requests_per_s"] / results["direct"]["c50"]["requests_per_s"], 3
        ),
    }
    results["added_p50_ms_c1"] = {
        "minimal_forwarder": round(base["c1"]["p50_ms"] - direct_p50, 3),
        "openstackoid": round(ours["c1"]["p50_ms"] - direct_p50, 3),
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
