"""Soak: N requests (100,000; 10,000 quick) through the proxy across 1,000 simulated clouds,
some of them slow, failing, down or flapping, from an aiohttp load generator with bounded
concurrency. Every answer is checked against its request:

- a 200 holds the data of the cloud the scope named: `GET /image/v2/images/<id>` of the
  image only that cloud has (ids are per cloud), the merged list of a fan-out holds each
  named cloud's image tagged with its cloud, a failover holds the healthy cloud's image;
- a healthy cloud must answer 200; a faulty one 200 or a 5xx in OpenStack's error shape
  naming that very cloud.
`lost` counts requests without an HTTP answer, `unexpected` answers of the wrong kind,
`mismatched` answers carrying another request's data. All three must be zero.

The proxy runs in its own process, as deployed; its RSS and open fds are sampled after a
warm-up that uses every scope of the run once (so caches are full) and at the end. The
figures are ratios against that warm-up and the run's own first tenth.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from rich.progress import Progress

from bench.contenders import cpu_seconds, open_fds, rss_mb
from bench.report import save_and_print
from bench.servers import Fleet, issue_token, start_proxy, start_testbed, stop
from openstackoid.proxy import ProxyConfig
from openstackoid.proxy.fanout import CLOUD_TAG
from openstackoid.testbed.model import stable_id

CLOUDS = 1_000
CONCURRENCY = 50
FAULTY_EVERY = 100
"""Per hundred clouds: one slow, one failing 30 %, one down, and every other hundred one
flapping (35 faulty clouds of 1,000)."""
LATENCY = 0.05
ERROR_RATE = 0.3
FLAP_SECONDS = 0.5
FAILOVER_SCOPES = 100
FANOUT_SCOPES = 100
ERROR_STATUSES = frozenset({502, 503, 504})


def fault_plan(clouds: int) -> dict[str, dict[str, Any]]:
    """cloud name -> Faults fields; "flapping" is the bench's own: outage toggled."""
    plan: dict[str, dict[str, Any]] = {}
    for base in range(0, clouds, FAULTY_EVERY):
        plan[f"cloud-{base + 7}"] = {"latency": LATENCY}
        plan[f"cloud-{base + 13}"] = {"error_rate": ERROR_RATE}
        plan[f"cloud-{base + 29}"] = {"outage": True}
        if base % (2 * FAULTY_EVERY) == 0:
            plan[f"cloud-{base + 41}"] = {"flapping": True}
    return plan


def image_id(cloud: str) -> str:
    return stable_id(cloud, "image/cirros")


@dataclass(frozen=True)
class Ask:
    """One request of the soak and what its answer must be."""

    scope: str
    path: str
    answers: tuple[str, ...]
    """The clouds whose image a 200 must hold, in order."""
    may_fail: str | None
    """The faulty cloud a 5xx must name; None: the request must succeed."""


def asks(clouds: int, seed: int = 7) -> list[Ask]:
    """Every distinct request of the run: one per cloud, failovers from a cloud that is down
    to a healthy one, and fan-outs over two healthy clouds."""
    plan = fault_plan(clouds)
    names = [f"cloud-{i}" for i in range(1, clouds + 1)]
    healthy = [n for n in names if n not in plan and n != "cloud-1"]
    down = [n for n, f in plan.items() if f.get("outage")]
    rng = random.Random(seed)
    result = [
        Ask(
            f"{{keystone: cloud-1; glance: {name}}}",
            f"/image/v2/images/{image_id(name)}",
            (name,),
            name if name in plan else None,
        )
        for name in names
    ]
    for _ in range(FAILOVER_SCOPES):
        bad, good = rng.choice(down), rng.choice(healthy)
        scope = f"{{keystone: cloud-1; glance: {bad} | {good}}}"
        result.append(Ask(scope, f"/image/v2/images/{image_id(good)}", (good,), None))
    for _ in range(FANOUT_SCOPES):
        first, second = rng.sample(healthy, 2)
        scope = f"{{keystone: cloud-1; glance: {first} & {second}}}"
        result.append(Ask(scope, "/image/v2/images", (first, second), None))
    return result


def verdict(ask: Ask, status: int, body: Any) -> str:
    """ "ok", "unexpected" (wrong kind of answer) or "mismatched" (another request's data)."""
    if status == 200:
        if len(ask.answers) == 1:
            return "ok" if body.get("id") == image_id(ask.answers[0]) else "mismatched"
        got = sorted((i.get("id"), i.get(CLOUD_TAG)) for i in body.get("images", []))
        want = sorted((image_id(c), c) for c in ask.answers)
        return "ok" if got == want else "mismatched"
    if ask.may_fail is None or status not in ERROR_STATUSES:
        return "unexpected"
    message = body.get("error", {}).get("message", "") if isinstance(body, dict) else ""
    named = re.findall(r"cloud-\d+", message)
    return "ok" if named and set(named) == {ask.may_fail} else "mismatched"


@dataclass
class Tally:
    counts: Counter[str]
    statuses: Counter[int]
    examples: list[str]
    seconds: float = 0.0

    def add(self, outcome: str, status: int, ask: Ask, detail: str) -> None:
        self.counts[outcome] += 1
        self.statuses[status] += 1
        if outcome != "ok" and len(self.examples) < 5:
            self.examples.append(f"{outcome}: {ask.scope} {ask.path} -> {status} {detail[:200]}")


async def _one(
    session: aiohttp.ClientSession, url: str, token: str, ask: Ask, tally: Tally
) -> None:
    headers = {"X-Auth-Token": token, "X-Scope": ask.scope}
    try:
        async with session.get(url + ask.path, headers=headers) as resp:
            raw = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        tally.add("lost", 0, ask, repr(exc))
        return
    try:
        body = json.loads(raw)
    except ValueError:
        tally.add("unexpected", status, ask, raw.decode(errors="replace"))
        return
    tally.add(verdict(ask, status, body), status, ask, raw.decode(errors="replace"))


async def drive(
    url: str, token: str, plan: list[Ask], concurrency: int, progress: Progress, task: Any
) -> Tally:
    """Send every ask with at most `concurrency` in flight."""
    tally = Tally(Counter(), Counter(), [])
    pending = iter(plan)
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            for ask in pending:  # one shared iterator: each ask is taken once
                await _one(session, url, token, ask, tally)
                progress.advance(task)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    tally.seconds = time.perf_counter() - started
    return tally


def _sample(pid: int) -> dict[str, float]:
    return {"rss_mb": rss_mb(pid), "open_fds": open_fds(pid), "cpu_s": cpu_seconds(pid)}


async def measure(quick: bool, requests: int | None = None) -> dict[str, Any]:
    total = requests or (10_000 if quick else 100_000)
    distinct = asks(CLOUDS)
    rng = random.Random(11)
    # The first tenth and the last tenth are timed apart: their ratio shows any slow-down.
    tenth = max(total // 10, 1)
    plan = [rng.choice(distinct) for _ in range(total)]
    chunks = [plan[:tenth], plan[tenth : total - tenth], plan[total - tenth :]]
    workdir = tempfile.TemporaryDirectory(prefix="bench-soak-")
    processes: list[Any] = []
    try:
        # validate-at-issuer (the default): the caller's token is checked by cloud-1, and
        # every other cloud gets the token of the credential a mapping rule names, made
        # while the clouds were healthy (a cloud down could not make one).
        fleet = Fleet(
            clouds=CLOUDS, faults=fault_plan(CLOUDS), flap_seconds=FLAP_SECONDS, fleet_rules=True
        )
        bed, clouds_yaml = await start_testbed(fleet, Path(workdir.name))
        processes.append(bed)
        config = ProxyConfig(clouds_yaml=clouds_yaml)
        proxy, url = await start_proxy(config, quiet=True)
        processes.append(proxy)
        assert proxy.pid is not None
        token = await issue_token(clouds_yaml)
        with Progress() as progress:
            warm = progress.add_task("warm-up: every scope once", total=len(distinct))
            warm_up = await drive(url, token, distinct, CONCURRENCY, progress, warm)
            after_warm_up = _sample(proxy.pid)
            task = progress.add_task(f"soak: {total:,} requests", total=total)
            tallies = [
                await drive(url, token, chunk, CONCURRENCY, progress, task) for chunk in chunks
            ]
            at_end = _sample(proxy.pid)
    finally:
        stop(*processes)
        workdir.cleanup()
    counts: Counter[str] = sum((t.counts for t in tallies), Counter())
    statuses: Counter[int] = sum((t.statuses for t in tallies), Counter())
    seconds = sum(t.seconds for t in tallies)
    first, last = tallies[0], tallies[-1]
    return {
        "requests": total,
        "clouds": CLOUDS,
        "faulty_clouds": len(fault_plan(CLOUDS)),
        "concurrency": CONCURRENCY,
        "seconds": round(seconds, 1),
        "requests_per_s": round(total / seconds, 1),
        "ok": counts["ok"],
        "lost": counts["lost"],
        "unexpected": counts["unexpected"],
        "mismatched": counts["mismatched"],
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "examples": sum((t.examples for t in tallies), warm_up.examples)[:10],
        "warm_up": {"requests": len(distinct), "ok": warm_up.counts["ok"]},
        "proxy_after_warm_up": after_warm_up,
        "proxy_at_end": at_end,
        "proxy_rss_growth_mb": round(at_end["rss_mb"] - after_warm_up["rss_mb"], 1),
        "proxy_fd_growth": at_end["open_fds"] - after_warm_up["open_fds"],
        "proxy_cpu_us_per_request": round(
            (at_end["cpu_s"] - after_warm_up["cpu_s"]) / total * 1e6, 1
        ),
        "passed": counts["ok"] == total,
        "ratios": {
            "proxy RSS at end / after warm-up": round(
                at_end["rss_mb"] / after_warm_up["rss_mb"], 3
            ),
            "proxy open fds at end / after warm-up": round(
                at_end["open_fds"] / max(after_warm_up["open_fds"], 1), 3
            ),
            "req/s in the last tenth / first tenth": round(
                (len(chunks[-1]) / last.seconds) / (len(chunks[0]) / first.seconds), 3
            ),
        },
    }


def run(quick: bool = False) -> dict[str, Any]:
    return asyncio.run(measure(quick))


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 requests")
    parser.add_argument("--requests", type=int, help="requests in the soak (after warm-up)")
    args = parser.parse_args()
    save_and_print("soak.json", asyncio.run(measure(args.quick, args.requests)))


if __name__ == "__main__":
    main()
