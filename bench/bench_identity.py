"""The validate-and-map identity path's CPU per request on a cached validation, as a ratio
to passthrough in the same run (target <= 1.10x).

Two simulated clouds sharing one Keystone (so passthrough is served too), a cloud-1 token,
scope `{keystone: cloud-1; image: cloud-2}`: under `validate-at-issuer` every request is
checked against the validation kept for (issuer, token), mapped by a rule to a target
credential of cloud-2 and carries that credential's kept token; under `passthrough` it
carries the caller's token as is. Each proxy is its own process; wrk at 50 connections;
the proxies run in alternating rounds (this VM's CPU time drifts) and the ratio is the
median of per-round ratios.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.contenders import ensure_installed
from bench.report import save_and_print
from bench.servers import (
    Fleet,
    add_fleet_rules,
    issue_token,
    start_proxy,
    start_testbed,
    stop,
    wait_up,
)
from bench.wrk import cpu_under_load, run_wrk
from openstackoid.proxy import ProxyConfig

SCOPE = "{keystone: cloud-1; image: cloud-2}"
PINNED = (os.cpu_count() or 1) >= 2
WRK_CORES = "0" if PINNED else None
STRATEGIES = ("passthrough", "validate-at-issuer")


def _pin(pid: int | None, core: int) -> None:
    if PINNED and pid is not None:
        os.sched_setaffinity(pid, {core})


async def measure(quick: bool) -> dict[str, Any]:
    if "wrk" in ensure_installed("wrk"):
        return {"skipped": "wrk is not installed and could not be (apt-get install wrk)"}
    seconds, round_count = (2, 3) if quick else (3, 5)
    workdir = tempfile.TemporaryDirectory(prefix="bench-identity-")
    testbed, clouds_yaml = await start_testbed(
        Fleet(clouds=2, shared_identity=True), Path(workdir.name)
    )
    _pin(testbed.pid, 0)
    processes = [testbed]
    bases: dict[str, tuple[str, int]] = {}
    try:
        with_rules = await add_fleet_rules(clouds_yaml)
        for strategy in STRATEGIES:
            config = ProxyConfig(clouds_yaml=with_rules, identity_strategy=strategy)  # type: ignore[arg-type]
            proxy, base = await start_proxy(config)
            processes.append(proxy)
            assert proxy.pid is not None
            _pin(proxy.pid, 1)
            bases[strategy] = (base, proxy.pid)
            await wait_up(f"{base}/healthz")
        token = await issue_token(clouds_yaml)
        headers = {"X-Auth-Token": token, "X-Scope": SCOPE}
        for base, _ in bases.values():  # warm-up: the validation and the mapped token kept
            await asyncio.to_thread(run_wrk, f"{base}/image/v2/images", headers, 1, 50)
        rounds: dict[str, list[dict[str, float]]] = {s: [] for s in STRATEGIES}
        for _ in range(round_count):
            for strategy, (base, pid) in bases.items():
                url = f"{base}/image/v2/images"
                figures = await asyncio.to_thread(
                    cpu_under_load, url, pid, headers, seconds, WRK_CORES
                )
                rounds[strategy].append(figures)
    finally:
        stop(*processes)
        workdir.cleanup()
    errors = {s: sum(int(r["errors"]) for r in rs) for s, rs in rounds.items()}
    results: dict[str, Any] = {
        strategy: {
            "cpu_us_per_request": round(
                statistics.median(r["cpu_us_per_request"] for r in figures), 1
            ),
            "cpu_us_per_request_by_round": [round(r["cpu_us_per_request"], 1) for r in figures],
            "requests_per_s_by_round": [round(r["requests_per_s"], 1) for r in figures],
        }
        for strategy, figures in rounds.items()
    }
    results["pinned_cores"] = PINNED
    if any(errors.values()):
        # A proxy answering errors fast is not faster: no ratio from such a run.
        results["failed"] = errors
        return results
    cpu_ratio = statistics.median(
        mapped["cpu_us_per_request"] / plain["cpu_us_per_request"]
        for mapped, plain in zip(rounds["validate-at-issuer"], rounds["passthrough"], strict=True)
    )
    results["ratios"] = {
        "validate-and-map / passthrough CPU per request": round(cpu_ratio, 3),
        "validate-and-map / passthrough throughput per core": round(1 / cpu_ratio, 3),
    }
    results["target"] = {"at_most": 1.10, "met": cpu_ratio <= 1.10}
    return results


def run(quick: bool = False) -> dict[str, Any]:
    return asyncio.run(measure(quick))


def main() -> None:
    save_and_print("identity.json", run())


if __name__ == "__main__":
    main()
