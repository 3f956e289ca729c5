"""Validations kept per (issuer, token digest), at most the bound, never past the token."""

from __future__ import annotations

from openstackoid.proxy.identity.tokens import token_key
from openstackoid.proxy.identity.validations import ValidationCache
from openstackoid.registry.caller import CallerIdentity

MEMBER = CallerIdentity("cloud-1", "u-1", "demo", roles=frozenset({"member"}))
FAR_FUTURE = 1e12


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_validations_end_at_the_bound_or_the_tokens_expiry() -> None:
    clock = Clock()
    cache = ValidationCache(seconds=60, clock=clock)
    cache.put("cloud-1", "d", MEMBER, expires=FAR_FUTURE)
    cache.put("cloud-1", "short", MEMBER, expires=clock.now + 5)
    assert cache.get("cloud-1", "d") == MEMBER
    assert cache.get("cloud-2", "d") is None  # another issuer vouched for nothing
    clock.now += 5
    assert cache.get("cloud-1", "short") is None
    clock.now += 54.9
    assert cache.get("cloud-1", "d") == MEMBER
    clock.now += 0.1
    assert cache.get("cloud-1", "d") is None and len(cache) == 0


def test_a_zero_bound_keeps_nothing_and_size_is_bounded() -> None:
    assert len(_filled(ValidationCache(seconds=0), 10)) == 0
    assert len(_filled(ValidationCache(seconds=60, max_entries=100), 1000)) <= 100


def _filled(cache: ValidationCache, count: int) -> ValidationCache:
    for i in range(count):
        cache.put("cloud-1", str(i), MEMBER, expires=FAR_FUTURE)
    return cache


def test_digests_never_hold_the_token() -> None:
    assert "tok" not in token_key("tok") and len(token_key("tok")) == 64


def test_a_kept_validation_remembers_per_target_within_a_bound() -> None:
    cache = ValidationCache(seconds=60)
    cache.put("cloud-1", "d", MEMBER, expires=FAR_FUTURE)
    entry = cache.entry("cloud-1", "d")
    assert entry is not None
    for i in range(5000):
        entry.remember(f"cloud-{i}", ("memo", i))
    assert 0 < len(entry.acting) <= 1024
