"""Remember the scope a token was used with, for the token's life.

A service calling another on the user's behalf (Nova asking Glance for an image) sends the
user's token but not the X-Scope header; the proxy recovers the scope from the token.
"""

from __future__ import annotations

import time
from typing import Protocol

from cachetools import TLRUCache

from proxy.identity import token_key

DEFAULT_TTL = 3600.0


class ScopeStore(Protocol):
    """Where token -> scope lives. The in-process ScopeMemory; a shared one (Redis) keeps
    `note` and `remember` cheap (queued writes) and does its IO in `recall`, which the
    handler awaits only for a request without X-Scope."""

    def note(self, token: str, scope: str) -> None:
        """The token came with this (valid) scope."""
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


class ScopeMemory:
    def __init__(self, max_tokens: int = 100_000) -> None:
        self._scopes: TLRUCache[str, _Remembered] = TLRUCache(max_tokens, _until)
        self._noted: dict[int, tuple[str, _Remembered]] = {}
        """hash(token) -> (digest, entry): the entry is found without the sha256 and the
        TLRU's bookkeeping on nearly every request. str hashes are keyed per process
        (SipHash), so nobody can aim a collision; even a chance one changes nothing, as an
        entry is only changed once the digest matches."""
        self._max_noted = max_tokens

    def remember(self, token: str, scope: str, deadline: float | None = None) -> None:
        key = token_key(token)
        if deadline is None:
            known = self._scopes.get(key)
            deadline = known.deadline if known else time.monotonic() + DEFAULT_TTL
        entry = self._scopes[key] = _Remembered(scope, deadline)
        self._front(token, key, entry)

    def note(self, token: str, scope: str) -> None:
        """The token was sent with this scope: remember it if it is new for the token."""
        noted = self._noted.get(hash(token))
        if noted is not None and noted[1].scope == scope and noted[0] in self._scopes:
            return  # the same scope again: nearly every request
        key = token_key(token)
        if noted is not None and noted[0] == key and key in self._scopes:
            noted[1].scope = scope  # a client going from cloud to cloud with one token
            return
        entry = self._scopes.get(key)
        if entry is None:
            entry = self._scopes[key] = _Remembered(scope, time.monotonic() + DEFAULT_TTL)
        else:
            entry.scope = scope  # kept by the TLRU already: only the front cache lacks it
        self._front(token, key, entry)

    def _front(self, token: str, key: str, entry: _Remembered) -> None:
        if len(self._noted) >= self._max_noted:
            self._noted.clear()
        self._noted[hash(token)] = (key, entry)

    async def recall(self, token: str) -> str | None:
        found = self._scopes.get(token_key(token))
        return found.scope if found else None

    def __len__(self) -> int:
        return len(self._scopes)
