"""parse_scope's memo: bounded by bytes whatever the scopes sent, refusals remembered
without their traceback, hits served from it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openstackoid.scope_dsl import MAX_SCOPE_TERMS, Scope, ScopeSyntaxError, parse_scope
from openstackoid.scope_dsl.memo import ParseMemo, weight


@pytest.fixture(autouse=True)
def _fresh_memo() -> Iterator[None]:
    parse_scope.cache_clear()
    yield
    parse_scope.cache_clear()


def _largest(n: int) -> str:
    return "{image: " + " & ".join(f"cloud-{n}-{i:04}" for i in range(MAX_SCOPE_TERMS)) + "}"


def test_the_memo_stays_within_its_bytes_whatever_is_sent() -> None:
    memo = ParseMemo(parse_scope, max_bytes=256 * 1024)
    for n in range(200):
        memo(_largest(n))
        memo(f"{{image: cloud-{n}}}")
        with pytest.raises(ScopeSyntaxError):
            memo(f"{{image: cloud-{n} &}}")
    info = memo.cache_info()
    assert info.bytes <= info.max_bytes
    assert 0 < info.entries < 600
    assert info.misses == 600


def test_an_entry_weighs_at_least_what_it_holds() -> None:
    """The estimate may be generous, never short: measured with tracemalloc."""
    import tracemalloc

    texts = [_largest(n) for n in range(50)]
    parse_scope(texts[0])
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [parse_scope(text) for text in texts[1:]]
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert used <= sum(weight(text, scope) for text, scope in zip(texts[1:], kept, strict=True))


def test_a_refusal_is_remembered_and_raised_afresh() -> None:
    text = "{image: a b}"
    with pytest.raises(ScopeSyntaxError) as first:
        parse_scope(text)
    with pytest.raises(ScopeSyntaxError) as second:
        parse_scope(text)
    assert first.value is not second.value
    assert str(first.value) == str(second.value)
    assert parse_scope.cache_info().hits == 1


def test_a_hit_is_the_same_scope() -> None:
    first = parse_scope("{image: cloud-7}")
    assert isinstance(first, Scope)
    assert parse_scope("{image: cloud-7}") is first
    assert parse_scope.cache_info().hits == 1


def test_scopes_over_the_length_limit_are_not_kept() -> None:
    with pytest.raises(ScopeSyntaxError):
        parse_scope("{image: " + "a" * 100_000 + "}")
    assert parse_scope.cache_info().entries == 0
