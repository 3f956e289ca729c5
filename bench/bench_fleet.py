"""What a fleet costs, in one run.

1. CPU per request of one proxy process with the scope memory shared through Redis against
   the in-process one, on the steady path: the same token with the same scope every time
   (target: at most 1.10x). Also the recalled path: the token without X-Scope, as Nova
   sends it. Each proxy is pinned to core 1, wrk to core 0; rounds alternate and the ratio
   is the median of per-round ratios (this VM's CPU time drifts between runs).
2. Throughput of `--workers 2` against `--workers 1` (both with the Redis memory) on this
   machine's cores, wrk pinned to core 0 as above; the proxies are not pinned.

The cloud's image listing is served by nginx (a fixed 1.1 KB JSON body): the testbed's own
Python server would be the limit of two workers, not the proxy.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import redis
import yaml

from bench.contenders import Daemon, ensure_installed, start_nginx_with
from bench.report import save_and_print
from bench.servers import Fleet, free_port, issue_token, start_testbed, stop, wait_up
from bench.wrk import cpu_under_load, run_wrk

REDIS = os.environ.get("OPENSTACKOID_BENCH_REDIS", "redis://127.0.0.1:6379/0")
SCOPE = "{*: cloud-1}"
PINNED = (os.cpu_count() or 1) >= 2
WRK_CORES = "0" if PINNED else None
IMAGES = {"images": [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, str(i))), "name": f"img-{i}",
                     "status": "active", "visibility": "public"} for i in range(8)]}  # fmt: skip


def _start_static_glance(port: int) -> Daemon:
    """nginx answering every /image request with the same JSON list, like a fast Glance."""
    body = json.dumps(IMAGES).replace("'", "\\'")
    location = f"default_type application/json; return 200 '{body}';"
    return start_nginx_with(port, location, prefix="bench-fleet-nginx-")


def _clouds_yaml_with_image_at(clouds_yaml: str, image_url: str, path: Path) -> Path:
    document = yaml.safe_load(Path(clouds_yaml).read_text())
    document["clouds"]["cloud-1"]["openstackoid"]["endpoints"]["image"] = image_url
    path.write_text(yaml.safe_dump(document))
    return path


def _start_proxy(clouds_yaml: Path, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "openstackoid.cli", "proxy", "--clouds-yaml"]
    command += [str(clouds_yaml), "--port", str(port), "--default-scope", SCOPE, *args]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}"


def _pin_tree(pid: int, core: int) -> None:
    if not PINNED:
        return
    os.sched_setaffinity(pid, {core})
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            _pin_tree(int(child), core)


async def _all_workers_up(base: str, workers: int) -> None:
    """Until `workers` processes answered: a request id's prefix is its worker's."""
    seen: set[str] = set()
    connector = aiohttp.TCPConnector(force_close=True)  # connections spread over workers
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(2000):
            async with session.get(f"{base}/identity/v3") as resp:
                seen.add(resp.headers["X-Openstackoid-Request-Id"][:-12])
            if len(seen) >= workers:
                return
            await asyncio.sleep(0.01)
    raise RuntimeError(f"{base}: {len(seen)} of {workers} workers answered")


def _median_ratio(
    ours: list[dict[str, float]], base: list[dict[str, float]], key: str
) -> float | None:
    """Median of per-round ratios over the rounds where neither side had an error (a
    contender answering errors fast is not faster; wrk's timeouts on this shared machine
    drop a round, not the run). None if no round was clean."""
    clean = [(a, b) for a, b in zip(ours, base, strict=True) if not a["errors"] + b["errors"]]
    if not clean:
        return None
    return round(statistics.median(a[key] / b[key] for a, b in clean), 3)


async def measure(quick: bool) -> dict[str, Any]:
    missing = ensure_installed("wrk", "nginx")
    if missing:
        return {"skipped": f"not installed: {', '.join(missing)}"}
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        return {"skipped": f"Redis not answering at {REDIS}: {exc}"}
    seconds, rounds = (2, 3) if quick else (3, 5)
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    shared = f"{REDIS}?key_prefix={prefix}"
    workdir = tempfile.TemporaryDirectory(prefix="bench-fleet-")
    testbed, testbed_yaml = await start_testbed(Fleet(clouds=1), Path(workdir.name))
    glance_port = free_port()
    glance = _start_static_glance(glance_port)
    clouds_yaml = _clouds_yaml_with_image_at(
        testbed_yaml, f"http://127.0.0.1:{glance_port}/image", Path(workdir.name) / "fleet.yaml"
    )
    _pin_tree(testbed.pid or 0, 0)
    _pin_tree(glance.pid, 0)
    contenders = {
        "in_process": _start_proxy(clouds_yaml),
        "redis": _start_proxy(clouds_yaml, "--scope-memory", shared),
        "redis_1_worker": _start_proxy(clouds_yaml, "--scope-memory", shared, "--workers", "1"),
        "redis_2_workers": _start_proxy(clouds_yaml, "--scope-memory", shared, "--workers", "2"),
    }
    # Other work on the machine takes the second core two workers need: say how busy it was.
    results: dict[str, Any] = {"pinned_cores": PINNED, "load_average_at_start": os.getloadavg()}
    try:
        for _process, base in contenders.values():
            await wait_up(f"{base}/healthz")
        await _all_workers_up(contenders["redis_2_workers"][1], 2)
        for name in ("in_process", "redis"):
            _pin_tree(contenders[name][0].pid, 1)
        token = await issue_token(testbed_yaml)
        steady = {"X-Auth-Token": token, "X-Scope": SCOPE}
        recalled = {"X-Auth-Token": token}
        figures: dict[str, list[dict[str, float]]] = {}
        plan = [
            ("in_process", steady),
            ("redis", steady),
            ("in_process_recalled", recalled),
            ("redis_recalled", recalled),
            ("redis_1_worker", steady),
            ("redis_2_workers", steady),
        ]
        for name, _ in plan:  # warm-up: the scope noted, pools and caches filled
            _process, base = contenders[name.removesuffix("_recalled")]
            await asyncio.to_thread(run_wrk, f"{base}/image/v2/images", steady, 1, 50)
        for _ in range(rounds):
            for name, headers in plan:
                process, base = contenders[name.removesuffix("_recalled")]
                url = f"{base}/image/v2/images"
                got = await asyncio.to_thread(
                    cpu_under_load, url, process.pid, headers, seconds, WRK_CORES
                )
                figures.setdefault(name, []).append(got)
    finally:
        for process, _ in contenders.values():
            process.terminate()
        for process, _ in contenders.values():
            process.wait(30)
        glance.stop()
        stop(testbed)
        workdir.cleanup()
        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
    errors = {name: sum(r["errors"] for r in runs) for name, runs in figures.items()}
    results["errors"] = errors
    results["cpu_us_per_request"] = {
        name: round(statistics.median(r["cpu_us_per_request"] for r in runs), 1)
        for name, runs in figures.items()
    }
    results["requests_per_s"] = {
        name: round(statistics.median(r["requests_per_s"] for r in runs), 1)
        for name, runs in figures.items()
    }
    results["load_average_at_end"] = os.getloadavg()
    results["rounds_with_errors"] = {
        name: sum(1 for r in runs if r["errors"]) for name, runs in figures.items()
    }
    results["ratios"] = {
        "redis / in-process CPU per request (steady)": _median_ratio(
            figures["redis"], figures["in_process"], "cpu_us_per_request"
        ),
        "redis / in-process CPU per request (recalled, no X-Scope)": _median_ratio(
            figures["redis_recalled"], figures["in_process_recalled"], "cpu_us_per_request"
        ),
        "2 workers / 1 worker req/s": _median_ratio(
            figures["redis_2_workers"], figures["redis_1_worker"], "requests_per_s"
        ),
    }
    return results


def run(quick: bool = False) -> dict[str, Any]:
    return asyncio.run(measure(quick))


def main() -> None:
    save_and_print("fleet.json", run())


if __name__ == "__main__":
    main()
