"""The soak bench's checker, and a small soak in process: 50 clouds with the bench's faults."""

from __future__ import annotations

import asyncio
import random

from rich.progress import Progress

from bench.bench_soak import Ask, asks, drive, fault_plan, image_id, verdict
from openstackoid.proxy.fanout import CLOUD_TAG
from openstackoid.testbed import Faults
from tests.federation import FederationFactory


def test_the_checker_tells_a_wrong_cloud_from_the_right_one() -> None:
    single = Ask("{glance: cloud-7}", "/image/v2/images/x", ("cloud-7",), "cloud-7")
    assert verdict(single, 200, {"id": image_id("cloud-7")}) == "ok"
    assert verdict(single, 200, {"id": image_id("cloud-70")}) == "mismatched"
    error = {"error": {"message": "cloud 'cloud-7' is unreachable"}}
    assert verdict(single, 502, error) == "ok"
    assert verdict(single, 502, {"error": {"message": "cloud 'cloud-70' failed"}}) == "mismatched"
    assert verdict(single, 500, error) == "unexpected"
    healthy = Ask("{glance: cloud-8}", "/image/v2/images/x", ("cloud-8",), None)
    assert verdict(healthy, 502, {"error": {"message": "cloud 'cloud-8' failed"}}) == "unexpected"
    both = Ask("{glance: cloud-8 & cloud-9}", "/image/v2/images", ("cloud-8", "cloud-9"), None)
    images = [{"id": image_id(c), CLOUD_TAG: c} for c in ("cloud-9", "cloud-8")]
    assert verdict(both, 200, {"images": images}) == "ok"
    assert verdict(both, 200, {"images": images[:1]}) == "mismatched"
    images[0][CLOUD_TAG] = "cloud-8"
    assert verdict(both, 200, {"images": images}) == "mismatched"


async def test_a_small_soak_loses_and_mixes_up_nothing(make_federation: FederationFactory) -> None:
    clouds = 50
    federation = await make_federation(clouds=clouds)
    plan = fault_plan(clouds)
    flapping = [name for name, faults in plan.items() if faults.pop("flapping", False)]
    for name, faults in plan.items():
        if faults:
            await federation.bed.set_faults(name, Faults(**faults))
    stop = asyncio.Event()

    async def flap() -> None:
        down = False
        while not stop.is_set():
            down = not down
            for name in flapping:
                await federation.bed.set_faults(name, Faults(outage=down))
            await asyncio.sleep(0.05)

    distinct = asks(clouds)
    rng = random.Random(3)
    requests = distinct + [rng.choice(distinct) for _ in range(600)]
    token = await federation.token("{keystone: cloud-1}")
    flapper = asyncio.ensure_future(flap())
    try:
        with Progress(disable=True) as progress:
            task = progress.add_task("soak", total=len(requests))
            tally = await drive(federation.url, token, requests, 20, progress, task)
    finally:
        stop.set()
        await flapper
    assert tally.counts["ok"] == len(requests), (tally.counts, tally.examples)
    assert {200, 502} <= set(tally.statuses)  # the faults were met, and served around
