"""Remember the scope a token was used with, for the token's life.

A service calling another on the user's behalf (Nova asking Glance for an image) sends the
user's token but not the X-Scope header; the proxy recovers the scope from the token.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Protocol

from cachetools import TLRUCache

from openstackoid.proxy.identity import token_key

DEFAULT_TTL = 3600.0
MAX_BYTES = 64 * 1024 * 1024
"""Bytes of remembered scopes: 8 KB scopes at the 100,000-token cap were ~0.85 GB (issue
15). ~230,000 usual scopes fit, ~15,000 at the 4 KB scope limit."""
_ENTRY_BYTES = 250
"""A token's digest (the key) and an entry, besides the scope text: measured ~240 bytes."""


class ScopeStore(Protocol):
    """Where token -> scope lives: the in-process ScopeMemory, or one shared by a fleet
    (proxy/scope_memory_redis.py). IO happens only when the scope is new for the token as
    far as this process knows (`note` then hands back the write to await), and in `recall`,
    which the handler awaits only for a request without X-Scope."""

    def note(self, token: str, scope: str) -> Awaitable[None] | None:
        """The token came with this (valid) scope. An awaitable when the change must be
        stored before the request goes on: the cloud may call back through another process
        (Nova asking Glance), which must find it."""
        ...

    def remember(self, token: str, scope: str, deadline: float | None = None) -> None:
        """The token was issued for this scope; keep it until `deadline` (monotonic)."""
        ...

    async def recall(self, token: str) -> str | None:
        """The scope last seen with the token, if any."""
        ...

    def __len__(self) -> int: ...


class _Remembered:
    """A token's scope, changed in place when the token comes with another one: the TLRU
    keeps the entry until its deadline, which does not move."""

    __slots__ = ("scope", "deadline")

    def __init__(self, scope: str, deadline: float) -> None:
        self.scope = scope
        self.deadline = deadline


def _until(_key: str, value: _Remembered, _now: float) -> float:
    return value.deadline


def _weight(value: _Remembered) -> int:
    return _ENTRY_BYTES + len(value.scope)


class ScopeMemory:
    """The scope memory of one process (the default: one proxy, one worker), bounded by
    bytes; the handler notes a scope only once the caller's
    token was accepted (a stranger's token is never kept)."""

    def __init__(self, max_tokens: int = 100_000, max_bytes: int = MAX_BYTES) -> None:
        self._scopes: TLRUCache[str, _Remembered] = TLRUCache(
            max(max_bytes, 1), _until, getsizeof=_weight
        )
        self.max_tokens = max_tokens
        self._noted: dict[int, tuple[str, _Remembered]] = {}
        """hash(token) -> (digest, entry): the entry is found without the sha256 and the
        TLRU's bookkeeping on nearly every request. str hashes are keyed per process
        (SipHash), so nobody can aim a collision; even a chance one changes nothing, as an
        entry is only changed once the digest matches."""
        self._max_noted = min(max_tokens, max_bytes // (_ENTRY_BYTES + 4096) + 1)
        """The front cache pins its entries: bounded as if each held a scope at its limit."""

    def remember(self, token: str, scope: str, deadline: float | None = None) -> None:
        key = token_key(token)
        if deadline is None:
            known = self._scopes.get(key)
            deadline = known.deadline if known else time.monotonic() + DEFAULT_TTL
        entry = _Remembered(scope, deadline)
        self._store(key, entry)
        self._front(token, key, entry)

    def note(self, token: str, scope: str) -> None:  # never anything to wait for
        """The token was sent with this scope: remember it if it is new for the token."""
        noted = self._noted.get(hash(token))
        if noted is not None and noted[1].scope == scope and noted[0] in self._scopes:
            return  # the same scope again: nearly every request
        key = token_key(token)
        if noted is not None and noted[0] == key and key in self._scopes:
            noted[1].scope = scope  # a client going from cloud to cloud with one token
            self._store(key, noted[1])
            return
        entry = self._scopes.get(key)
        if entry is None:
            entry = _Remembered(scope, time.monotonic() + DEFAULT_TTL)
        else:
            entry.scope = scope  # kept by the TLRU already: only the front cache lacks it
        self._store(key, entry)
        self._front(token, key, entry)

    def _store(self, key: str, entry: _Remembered) -> None:
        """(Re)stored so the TLRU weighs the entry's scope as it is now."""
        if len(self._scopes) >= self.max_tokens and key not in self._scopes:
            self._scopes.popitem()
        try:
            self._scopes[key] = entry
        except ValueError:  # one scope heavier than the whole memory: not kept
            self._scopes.pop(key, None)

    def _front(self, token: str, key: str, entry: _Remembered) -> None:
        if len(self._noted) >= self._max_noted:
            self._noted.clear()
        self._noted[hash(token)] = (key, entry)

    async def recall(self, token: str) -> str | None:
        found = self._scopes.get(token_key(token))
        return found.scope if found else None

    def __len__(self) -> int:
        return len(self._scopes)
