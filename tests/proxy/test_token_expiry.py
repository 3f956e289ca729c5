"""Keystone's expires_at turned into cache deadlines."""

from __future__ import annotations

import time

from proxy.identity import parse_expiry


def test_a_malformed_token_expiry_counts_as_the_default_lifetime() -> None:
    for bad in ("soon", "2026-13-45T99:00:00Z", None, "", 42):
        deadline = parse_expiry(bad, default_ttl=100.0)  # type: ignore[arg-type]
        assert 99.0 < deadline - time.monotonic() <= 100.0
    assert parse_expiry("2000-01-01T00:00:00Z") < time.monotonic()
