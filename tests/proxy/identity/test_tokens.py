"""Keystone's expires_at turned into cache deadlines."""

from __future__ import annotations

import time

import pytest

from openstackoid.proxy.identity import parse_expiry


def test_expiry_deadlines() -> None:
    assert parse_expiry("2000-01-01T00:00:00Z") < time.monotonic()
    assert 99.0 < parse_expiry(None, default_ttl=100.0) - time.monotonic() <= 100.0
    future = parse_expiry("2999-01-01T00:00:00.000000Z")
    assert future > time.monotonic() + 1e9


@pytest.mark.parametrize("bad", ["soon", "2026-13-45T99:00:00Z", 42])
def test_a_malformed_expiry_is_an_error_not_a_guess(bad: object) -> None:
    """Validation caches a token until its expiry: a broken Keystone must not set it."""
    with pytest.raises(ValueError):
        parse_expiry(bad)  # type: ignore[arg-type]
