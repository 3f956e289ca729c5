import json
from pathlib import Path

import pytest

from openstackoid.scope_dsl import (
    MAX_SCOPE_LENGTH,
    AllOf,
    AnyOf,
    CloudGlob,
    CloudRef,
    GroupSelector,
    LabelSelector,
    ScopeError,
    ScopeSyntaxError,
    parse_scope,
)

CASES = json.loads((Path(__file__).parent / "cases.json").read_text())


@pytest.mark.parametrize(("text", "canonical"), CASES["valid"])
def test_valid_scopes_print_canonically(text: str, canonical: str) -> None:
    scope = parse_scope(text)
    assert str(scope) == canonical
    assert parse_scope(canonical) == scope


@pytest.mark.parametrize(("text", "message", "line", "column"), CASES["invalid"])
def test_invalid_scopes_name_the_mistake_and_its_place(
    text: str, message: str, line: int, column: int
) -> None:
    with pytest.raises(ScopeSyntaxError) as info:
        parse_scope(text)
    error = info.value
    assert message in error.message
    assert (error.line, error.column) == (line, column)
    assert f"at line {line}, column {column}" in str(error)
    assert isinstance(error, ScopeError) and isinstance(error, ValueError)


def test_caret_points_at_the_column() -> None:
    with pytest.raises(ScopeSyntaxError) as info:
        parse_scope("{glance}")
    source, caret = info.value.caret.splitlines()
    assert source.strip() == "{glance}"
    assert source[caret.index("^")] == "}"


def test_unknown_service_suggests_the_closest_name() -> None:
    with pytest.raises(ScopeSyntaxError) as info:
        parse_scope("{glnce: cloud-1}")
    assert info.value.suggestion == "Did you mean 'glance'?"
    assert str(info.value).endswith("Did you mean 'glance'?")


def test_ast_shapes() -> None:
    scope = parse_scope("{image: a | b & c; compute: @edge & region=eu; *: edge-*}")
    assert scope.expr_for("image") == AnyOf((CloudRef("a"), AllOf((CloudRef("b"), CloudRef("c")))))
    assert scope.expr_for("compute") == AllOf(
        (GroupSelector("edge"), LabelSelector("region", "eu"))
    )
    assert scope.expr_for("network") == CloudGlob("edge-*")  # the `*` default


def test_expr_for_unlisted_service_without_default_is_none() -> None:
    assert parse_scope("{keystone: cloud-1}").expr_for("image") is None


def test_too_long_a_scope_is_refused_before_parsing() -> None:
    text = "{image: " + "a" * MAX_SCOPE_LENGTH + "}"
    with pytest.raises(ScopeSyntaxError, match="limit is 4096"):
        parse_scope(text)


def test_parse_is_cached() -> None:
    parse_scope.cache_clear()
    first = parse_scope("{image: cloud-7}")
    assert parse_scope("{image: cloud-7}") is first
    assert parse_scope.cache_info().hits == 1


def test_long_lines_keep_a_readable_caret() -> None:
    text = "{image: " + " & ".join(f"c{i}" for i in range(100)) + " &}"
    with pytest.raises(ScopeSyntaxError) as info:
        parse_scope(text)
    source, caret = info.value.caret.splitlines()
    assert len(source) <= 122
    assert source[caret.index("^")] == "}"
