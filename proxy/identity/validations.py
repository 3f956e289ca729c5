"""Validated callers, kept per (issuer, token) for at most `token_cache_seconds`.

The bound is the revocation delay: a token revoked at its issuer is refused everywhere once
its entry ends (keystonemiddleware's `token_cache_time` plays this part for a service).
Keyed by the issuer too: a token one Keystone vouched for says nothing to another.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from openstackoid.registry.caller import CallerIdentity

DEFAULT_TOKEN_CACHE_SECONDS = 60.0
MAX_VALIDATIONS = 100_000


MAX_TARGETS_PER_VALIDATION = 1024


@dataclass(frozen=True, slots=True)
class Validated:
    caller: CallerIdentity
    until: float
    """time.monotonic() past which the validation is asked again."""
    acting: dict[str, Any] = field(default_factory=dict, compare=False)
    """Per target cloud, what the mapped identity path decided for this caller, with what
    it depended on (proxy.identity.mapped keeps and checks it): dies with the entry."""

    def remember(self, target: str, memo: Any) -> None:
        if len(self.acting) >= MAX_TARGETS_PER_VALIDATION:
            self.acting.clear()
        self.acting[target] = memo


class ValidationCache:
    """A plain dict with deadlines: a hit costs a digest and a lookup (a TLRUCache's
    bookkeeping doubled that), the size bound is kept on insert."""

    def __init__(
        self,
        seconds: float = DEFAULT_TOKEN_CACHE_SECONDS,
        max_entries: int = MAX_VALIDATIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if seconds < 0:
            raise ValueError("token_cache_seconds cannot be negative")
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str], Validated] = {}
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, issuer: str, digest: str) -> Validated | None:
        entry = self._entries.get((issuer, digest))
        if entry is None:
            return None
        if entry.until <= self._clock():
            del self._entries[(issuer, digest)]
            return None
        return entry

    def get(self, issuer: str, digest: str) -> CallerIdentity | None:
        entry = self.entry(issuer, digest)
        return entry.caller if entry is not None else None

    def put(self, issuer: str, digest: str, caller: CallerIdentity, expires: float) -> None:
        """Keep `caller` until `expires` (the token's own end, monotonic) or the cache's
        bound, whichever comes first; a bound of 0 keeps nothing."""
        now = self._clock()
        until = min(expires, now + self.seconds)
        if until <= now:
            return
        if len(self._entries) >= self.max_entries:
            self._make_room(now)
        self._entries[(issuer, digest)] = Validated(caller, until)

    def forget(self, issuer: str, digest: str) -> None:
        self._entries.pop((issuer, digest), None)

    def _make_room(self, now: float) -> None:
        expired = [key for key, entry in self._entries.items() if entry.until <= now]
        for key in expired:
            del self._entries[key]
        if len(self._entries) >= self.max_entries:
            # Oldest first (dicts keep insertion order): a tenth, so this runs rarely.
            for key in list(islice(self._entries, max(1, self.max_entries // 10))):
                del self._entries[key]
