"""Scale: the proxy with 1, 100, 1,000 and 10,000 registered clouds. Two traffic shapes, each
request to the next cloud in turn (wrk with a Lua script rotating X-Scope):
- a working set of 100 clouds (the registry's last ones): what the registry's size costs,
  against 100 registered clouds with the same traffic;
- every registered cloud: each cloud is revisited only every few seconds, so connections are
  cold or expired (keepalive_timeout) and the proxy holds a pool per cloud.
Reports req/s and CPU per request (median of alternating rounds), and the proxy's RSS and open
fds after the run. Ratios take two baselines: 1 registered cloud (the project's target: at
10,000 clouds, 90 % of 1 cloud's throughput per core), and 100 registered clouds with the
same traffic (what the registry's size alone costs).

The clouds share identity (testbed shared_identity, proxy passthrough): one token serves all.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from rich.progress import Progress

from bench.bench_proxy_overhead import PINNED, _pin
from bench.contenders import cpu_seconds, ensure_installed, open_fds, rss_mb
from bench.servers import (
    EMFILE,
    Fleet,
    descriptor_exhaustion,
    issue_token,
    raise_fd_limit,
    start_proxy,
    start_testbeds,
    stop,
)
from bench.wrk import run_wrk
from openstackoid.proxy import ProxyConfig
from openstackoid.registry import SqliteStore, load_clouds_yaml

SIZES = (1, 100, 1_000, 10_000)
ROTATE = """
local first = tonumber(os.getenv("BENCH_FIRST"))
local clouds = tonumber(os.getenv("BENCH_CLOUDS"))
local token = os.getenv("BENCH_TOKEN")
local i = 0
request = function()
  i = i % clouds + 1
  local name = "cloud-" .. (first + i - 1)
  local headers = {["X-Auth-Token"] = token, ["X-Scope"] = "{*: " .. name .. "}"}
  return wrk.format("GET", "/image/v2/images", headers)
end
"""


WORKING_SET = 100


def _shapes(registered: int) -> dict[str, tuple[int, int]]:
    """Traffic shapes for a registry size: name -> (first cloud index, clouds rotated)."""
    if registered <= WORKING_SET:
        return {f"{registered}": (1, registered)}
    return {
        f"{registered}, working set {WORKING_SET}": (registered - WORKING_SET + 1, WORKING_SET),
        f"{registered}, all": (1, registered),
    }


def _loaded(
    url: str, pid: int, token: str, shape: tuple[int, int], script: str, seconds: int
) -> dict[str, Any]:
    os.environ["BENCH_FIRST"] = str(shape[0])
    os.environ["BENCH_CLOUDS"] = str(shape[1])
    os.environ["BENCH_TOKEN"] = token
    before = cpu_seconds(pid)
    result = run_wrk(url, {}, seconds, 50, cores="0" if PINNED else None, script=script)
    cpu = cpu_seconds(pid) - before
    return {"wrk": result, "cpu_us_per_request": cpu / max(result.requests, 1) * 1e6}


async def measure(quick: bool) -> dict[str, Any]:
    raise_fd_limit()  # wrk and the spawned servers inherit it
    if ensure_installed("wrk"):
        return {"skipped": "wrk is not installed and could not be (apt-get install wrk)"}
    seconds, round_count = (2, 3) if quick else (3, 3)
    workdir = tempfile.TemporaryDirectory(prefix="bench-scale-")
    script = Path(workdir.name) / "rotate.lua"
    script.write_text(ROTATE)
    processes: list[Any] = []
    setups: dict[str, tuple[str, int]] = {}
    idle_rss: dict[str, float] = {}
    tokens: dict[int, str] = {}
    try:
        with Progress() as progress:
            task = progress.add_task("scale", total=len(SIZES) + round_count)
            for clouds in SIZES:
                progress.update(task, description=f"starting {clouds} clouds")
                fleet = Fleet(clouds=clouds, shared_identity=True)
                beds, clouds_yaml = await start_testbeds(fleet, Path(workdir.name), f"c{clouds}")
                processes += beds
                for bed in beds:
                    _pin(bed.pid, 0)
                # A fleet's proxy loads its registry from a database, as deployed: parsing
                # a 10,000-cloud clouds.yaml leaves ~200 MB of PyYAML's freed objects.
                registry_db = str(Path(workdir.name) / f"registry-{clouds}.sqlite")
                await SqliteStore(registry_db).upsert_many(load_clouds_yaml(clouds_yaml))
                config = ProxyConfig(registry_db=registry_db, identity_strategy="passthrough")
                # A proxy per traffic shape: one rotating over every cloud holds thousands
                # of connections, which would weigh on the working set's figures.
                for number, shape_name in enumerate(_shapes(clouds)):
                    log = Path(workdir.name) / f"proxy-{clouds}-{number}.stderr"
                    proxy, base = await start_proxy(config, log=log)
                    processes.append(proxy)
                    assert proxy.pid is not None
                    _pin(proxy.pid, 1)
                    setups[shape_name] = (f"{base}/image/v2/images", proxy.pid)
                    idle_rss[shape_name] = rss_mb(proxy.pid)
                # Each fleet has its own signing key: one token per setup.
                tokens[clouds] = await issue_token(clouds_yaml)
                progress.advance(task)
            runs = [
                (clouds, shape_name, shape)
                for clouds in SIZES
                for shape_name, shape in _shapes(clouds).items()
            ]
            for clouds, name, shape in runs:  # warm-up: one pass over the rotated clouds
                progress.update(task, description=f"warm-up: {name}")
                url, pid = setups[name]
                seconds_needed = max(1, shape[1] // 2000)
                await asyncio.to_thread(
                    _loaded, url, pid, tokens[clouds], shape, str(script), seconds_needed
                )
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for _, name, _ in runs}
            for number in range(round_count):
                for clouds, name, shape in runs:
                    progress.update(task, description=f"round {number + 1}: {name}")
                    url, pid = setups[name]
                    rounds[name].append(
                        await asyncio.to_thread(
                            _loaded, url, pid, tokens[clouds], shape, str(script), seconds
                        )
                    )
                progress.advance(task)
        results: dict[str, Any] = {}
        for _, name, _ in runs:
            pid = setups[name][1]
            results[f"{name} clouds"] = {
                "requests_per_s_by_round": [
                    round(r["wrk"].requests_per_s, 1) for r in rounds[name]
                ],
                "cpu_us_per_request": round(
                    statistics.median(r["cpu_us_per_request"] for r in rounds[name]), 1
                ),
                "errors": sum(r["wrk"].errors for r in rounds[name]),
                "proxy_rss_mb_before_traffic": idle_rss[name],
                "proxy_rss_mb": rss_mb(pid),
                "proxy_open_fds": open_fds(pid),
            }
    finally:
        stop(*processes)
        exhausted = descriptor_exhaustion(processes)
        workdir.cleanup()
    return _judged(results, rounds, runs, exhausted)


def _judged(
    results: dict[str, Any],
    rounds: dict[str, list[dict[str, Any]]],
    runs: list[tuple[int, str, tuple[int, int]]],
    exhausted: dict[str, int],
) -> dict[str, Any]:
    """Ratios, or why there are none: a run with wrk errors, or one in which a process ran
    out of file descriptors, measured something else than the proxy at that scale."""
    failed: dict[str, Any] = {
        name: figures["errors"]
        for name, figures in results.items()
        if isinstance(figures, dict) and figures.get("errors")
    }
    for name, measured in rounds.items():
        if any(r["wrk"].requests == 0 for r in measured):
            failed[f"{name} clouds"] = "a round completed no request"
    if failed:
        results["failed"] = failed  # errors answered fast are not throughput
    if exhausted:
        results["invalid"] = {
            process: f"{count} x '{EMFILE}'" for process, count in exhausted.items()
        }
    if failed or exhausted:
        return results
    results["ratios"] = {}
    for base_name in ("1", str(WORKING_SET)):
        baseline = rounds[base_name]
        for _, name, _ in runs:
            if name in ("1", base_name):
                continue
            ratios = [
                r["wrk"].requests_per_s / b["wrk"].requests_per_s
                for r, b in zip(rounds[name], baseline, strict=True)
            ]
            per_core = [
                b["cpu_us_per_request"] / r["cpu_us_per_request"]
                for r, b in zip(rounds[name], baseline, strict=True)
            ]
            ratios_key = f"{name} / {base_name}"
            if base_name != "1":  # req/s against 1 cloud says more of the testbed than of us
                results["ratios"][f"req/s at {ratios_key}"] = round(statistics.median(ratios), 3)
            results["ratios"][f"throughput per core at {ratios_key}"] = round(
                statistics.median(per_core), 3
            )
    return results


def run(quick: bool = False) -> dict[str, Any]:
    return asyncio.run(measure(quick))


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
