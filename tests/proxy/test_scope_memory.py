"""The scope remembered per token follows the latest one the token was sent with."""

from __future__ import annotations

import time

from pytest import MonkeyPatch

from openstackoid.proxy import scope_memory
from openstackoid.proxy.scope_memory import ScopeMemory


async def test_the_latest_scope_sent_with_a_token_wins() -> None:
    memory = ScopeMemory()
    memory.note("token-a", "{*: cloud-1}")
    memory.note("token-a", "{*: cloud-1}")  # repeated: nothing changes
    assert await memory.recall("token-a") == "{*: cloud-1}"
    memory.remember("token-a", "{*: cloud-2}", time.monotonic() + 60)  # e.g. at token issue
    assert await memory.recall("token-a") == "{*: cloud-2}"
    memory.note("token-a", "{*: cloud-1}")  # sent again with the first scope
    assert await memory.recall("token-a") == "{*: cloud-1}"
    assert await memory.recall("token-b") is None


async def test_an_expired_token_is_forgotten_even_if_noted_before() -> None:
    memory = ScopeMemory()
    memory.remember("token-a", "{*: cloud-1}", time.monotonic() - 1)
    assert await memory.recall("token-a") is None
    memory.note("token-a", "{*: cloud-1}")  # noted again: remembered afresh for an hour
    assert await memory.recall("token-a") == "{*: cloud-1}"


async def test_a_token_sent_with_each_cloud_in_turn_recalls_the_latest() -> None:
    memory = ScopeMemory()
    memory.remember("token-a", "{*: cloud-0}", time.monotonic() + 60)
    for i in range(1, 50):
        memory.note("token-a", f"{{*: cloud-{i % 7}}}")
        assert await memory.recall("token-a") == f"{{*: cloud-{i % 7}}}"
    assert len(memory) == 1


async def test_a_scope_noted_after_expiry_is_remembered_afresh() -> None:
    memory = ScopeMemory()
    memory.remember("token-a", "{*: cloud-1}", time.monotonic() - 1)
    memory.note("token-a", "{*: cloud-2}")
    assert await memory.recall("token-a") == "{*: cloud-2}"


async def test_tokens_whose_hashes_collide_keep_their_own_scopes(monkeypatch: MonkeyPatch) -> None:
    """The front cache goes by hash(token): a collision must never hand one token's scope
    to another."""
    monkeypatch.setattr(scope_memory, "hash", lambda _: 42, raising=False)
    memory = ScopeMemory()
    memory.note("token-a", "{*: cloud-1}")
    memory.note("token-b", "{*: cloud-2}")
    memory.note("token-a", "{*: cloud-3}")
    memory.note("token-b", "{*: cloud-2}")
    assert await memory.recall("token-a") == "{*: cloud-3}"
    assert await memory.recall("token-b") == "{*: cloud-2}"
