"""A cloud's slots: at most `limit` in flight, at most half for one caller, a bounded
wait for one; every slot comes back."""

from __future__ import annotations

import asyncio

import pytest

from openstackoid.proxy.upstream.slots import Slots, SlotTimeout


async def test_one_caller_holds_at_most_half_and_others_still_get_in() -> None:
    slots = Slots(limit=4, wait=0.05)
    held = [await slots.take("cloud", "token-a") for _ in range(2)]
    with pytest.raises(SlotTimeout, match="its share"):
        await slots.take("cloud", "token-a")
    other = await slots.take("cloud", "token-b")
    for ticket in [*held, other]:
        ticket.release()
    assert not slots._shares  # no caller left behind


async def test_waiting_for_a_full_cloud_is_bounded() -> None:
    slots = Slots(limit=2, wait=0.05)
    held = [await slots.take("cloud", f"token-{n}") for n in range(2)]
    with pytest.raises(SlotTimeout, match="all its 2 connections"):
        await slots.take("cloud", "token-x")
    held[0].release()
    (await slots.take("cloud", "token-x")).release()  # a freed slot is taken at once
    held[1].release()


async def test_a_waiter_gets_the_slot_released_to_it() -> None:
    slots = Slots(limit=1, wait=5.0)
    first = await slots.take("cloud", None)
    waiting = asyncio.ensure_future(slots.take("cloud", None))
    await asyncio.sleep(0)
    assert not waiting.done()
    first.release()
    (await asyncio.wait_for(waiting, 5.0)).release()


async def test_requests_without_a_token_share_the_whole_limit() -> None:
    slots = Slots(limit=4, wait=0.05)
    held = [await slots.take("cloud", None) for _ in range(4)]
    for ticket in held:
        ticket.release()
