"""Tokens as the proxy keeps them: by digest, until Keystone's expiry."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime


def token_key(token: str) -> str:
    """Caches and logs key tokens by digest: the token itself is never kept in clear."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_expiry(expires_at: str | None, default_ttl: float = 3600.0) -> float:
    """Keystone's expires_at as a time.monotonic() deadline; `default_ttl` when absent.
    A malformed one raises ValueError: a validation answer with it is a broken Keystone."""
    if not expires_at:
        return time.monotonic() + default_ttl
    if not isinstance(expires_at, str):
        raise ValueError(f"expires_at is not a string: {expires_at!r}")
    moment = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return time.monotonic() + (moment - datetime.now(UTC)).total_seconds()
