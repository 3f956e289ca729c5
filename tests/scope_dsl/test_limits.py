"""A scope's size, cloud count and nesting are bounded before parsing, and every refusal is
a located ScopeLimitExceeded (a ScopeSyntaxError), never a RecursionError."""

from __future__ import annotations

import pytest

from openstackoid.scope_dsl import (
    MAX_SCOPE_DEPTH,
    MAX_SCOPE_LENGTH,
    MAX_SCOPE_TERMS,
    AllOf,
    AnyOf,
    CloudRef,
    ScopeLimitExceeded,
    ScopeSyntaxError,
    parse_scope,
)


def _clouds(count: int, operator: str = " & ") -> str:
    return "{image: " + operator.join(f"c{i}" for i in range(count)) + "}"


def test_a_scope_at_every_limit_parses() -> None:
    nested = "(" * MAX_SCOPE_DEPTH + "a | b" + ")" * MAX_SCOPE_DEPTH
    assert parse_scope("{image: " + nested + "}").expr_for("image") == AnyOf(
        (CloudRef("a"), CloudRef("b"))
    )
    expr = parse_scope(_clouds(MAX_SCOPE_TERMS)).expr_for("image")
    assert isinstance(expr, AllOf) and len(expr.operands) == MAX_SCOPE_TERMS


@pytest.mark.parametrize("operator", [" & ", " | "])
def test_one_cloud_too_many_is_refused_where_it_starts(operator: str) -> None:
    text = _clouds(MAX_SCOPE_TERMS + 1, operator)
    with pytest.raises(ScopeLimitExceeded, match=f"more than {MAX_SCOPE_TERMS} clouds") as info:
        parse_scope(text)
    assert text[info.value.column - 1] == operator.strip()
    assert text[info.value.column :].strip() == f"c{MAX_SCOPE_TERMS}}}"


def test_json_entries_count_as_terms() -> None:
    body = ", ".join(f'"{service}": "a & b"' for service in ("image", "compute"))
    assert len(parse_scope("{" + body + "}").entries) == 2
    many = '{"image": "' + " & ".join(f"c{i}" for i in range(MAX_SCOPE_TERMS + 1)) + '"}'
    with pytest.raises(ScopeLimitExceeded):
        parse_scope(many)


@pytest.mark.parametrize(
    "nested",
    [
        "(" * 1000 + "a" + ")" * 1000,
        "(a | (" * 500 + "b" + "))" * 500,  # alternating: a RecursionError before the limits
        "(" * (MAX_SCOPE_DEPTH + 1) + "a" + ")" * (MAX_SCOPE_DEPTH + 1),
    ],
)
def test_deep_nesting_is_a_located_refusal(nested: str) -> None:
    text = "{image: " + nested + "}"
    with pytest.raises(ScopeLimitExceeded, match=f"nest more than {MAX_SCOPE_DEPTH}") as info:
        parse_scope(text)
    assert text[: info.value.column].count("(") == MAX_SCOPE_DEPTH + 1


def test_deep_json_nesting_is_a_syntax_error() -> None:
    text = '{"image": ' + "[" * 5000 + "]" * 5000 + "}"
    with pytest.raises(ScopeSyntaxError):
        parse_scope(text[:MAX_SCOPE_LENGTH])


def test_the_length_limit_comes_first() -> None:
    text = _clouds(5000)
    with pytest.raises(ScopeLimitExceeded, match=f"the limit is {MAX_SCOPE_LENGTH}"):
        parse_scope(text)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("{image: a & a}", "{image: a}"),
        ("{image: a | b | a}", "{image: a | b}"),
        ("{image: cloud-* & cloud-* & b & cloud-*}", "{image: cloud-* & b}"),
        ("{image: (a | b) & c & (a | b)}", "{image: (a | b) & c}"),
        ("{image: a & (a & b)}", "{image: a & b}"),
    ],
)
def test_a_cloud_named_twice_is_named_once(text: str, canonical: str) -> None:
    assert str(parse_scope(text)) == canonical
