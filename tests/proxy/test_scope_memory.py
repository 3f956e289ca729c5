"""The scope remembered per token follows the latest one the token was sent with."""

from __future__ import annotations

import time

from proxy.scope_memory import ScopeMemory


def test_the_latest_scope_sent_with_a_token_wins() -> None:
    memory = ScopeMemory()
    memory.note("token-a", "{*: cloud-1}")
    memory.note("token-a", "{*: cloud-1}")  # repeated: nothing changes
    assert memory.recall("token-a") == "{*: cloud-1}"
    memory.remember("token-a", "{*: cloud-2}", time.monotonic() + 60)  # e.g. at token issue
    assert memory.recall("token-a") == "{*: cloud-2}"
    memory.note("token-a", "{*: cloud-1}")  # sent again with the first scope
    assert memory.recall("token-a") == "{*: cloud-1}"
    assert memory.recall("token-b") is None


def test_an_expired_token_is_forgotten_even_if_noted_before() -> None:
    memory = ScopeMemory()
    memory.remember("token-a", "{*: cloud-1}", time.monotonic() - 1)
    assert memory.recall("token-a") is None
    memory.note("token-a", "{*: cloud-1}")  # noted again: remembered afresh for an hour
    assert memory.recall("token-a") == "{*: cloud-1}"
