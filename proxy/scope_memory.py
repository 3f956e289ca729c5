"""Remember the scope a token was used with, for the token's life.

A service calling another on the user's behalf (Nova asking Glance for an image) sends the
user's token but not the X-Scope header; the proxy recovers the scope from the token.
"""

from __future__ import annotations

import time

from cachetools import TLRUCache

from proxy.identity import token_key

DEFAULT_TTL = 3600.0


def _until(_key: str, value: tuple[str, float], _now: float) -> float:
    return value[1]


class ScopeMemory:
    def __init__(self, max_tokens: int = 100_000) -> None:
        self._scopes: TLRUCache[str, tuple[str, float]] = TLRUCache(max_tokens, _until)
        self._noted: dict[int, tuple[str, str]] = {}
        """hash(token) -> (digest, scope last noted): a hit spares the sha256 and the TLRU's
        expiry bookkeeping on every request that repeats its scope (nearly all). str hashes
        are keyed per process (SipHash), so nobody can aim a collision; a chance one only
        skips noting a token, it never routes by another token's scope (recall uses the
        digest)."""
        self._max_noted = max_tokens

    def remember(self, token: str, scope: str, deadline: float | None = None) -> None:
        key = token_key(token)
        if deadline is None:
            known = self._scopes.get(key)
            deadline = known[1] if known else time.monotonic() + DEFAULT_TTL
        self._scopes[key] = (scope, deadline)
        self._noted.pop(hash(token), None)

    def note(self, token: str, scope: str) -> None:
        """The token was sent with this scope: remember it if it is new for the token."""
        noted = self._noted.get(hash(token))
        if noted is not None and noted[1] == scope and noted[0] in self._scopes:
            return
        key = token_key(token)
        known = self._scopes.get(key)
        if known is None or known[0] != scope:
            self._scopes[key] = (scope, known[1] if known else time.monotonic() + DEFAULT_TTL)
        if len(self._noted) >= self._max_noted:
            self._noted.clear()
        self._noted[hash(token)] = (key, scope)

    def recall(self, token: str) -> str | None:
        found = self._scopes.get(token_key(token))
        return found[0] if found else None

    def __len__(self) -> int:
        return len(self._scopes)
