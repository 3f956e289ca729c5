"""Hypothesis: every AST prints to text that parses back to it; no input raises anything
but ScopeSyntaxError."""

from hypothesis import given, settings
from hypothesis import strategies as st

from openstackoid.scope_dsl import (
    AllOf,
    AnyOf,
    CloudExpr,
    CloudGlob,
    CloudRef,
    GroupSelector,
    LabelSelector,
    Scope,
    ScopeEntry,
    ScopeSyntaxError,
    parse_scope,
)

names = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,10}", fullmatch=True)
globs = st.from_regex(r"[a-z0-9-]{0,5}[*?][a-z0-9-]{0,5}", fullmatch=True)
leaves: st.SearchStrategy[CloudExpr] = st.one_of(
    names.map(CloudRef),
    globs.map(CloudGlob),
    names.map(GroupSelector),
    st.builds(LabelSelector, names, names),
)


def _combine(children: st.SearchStrategy[CloudExpr]) -> st.SearchStrategy[CloudExpr]:
    # Operands are never of the same kind as their parent, nor repeated: the parser
    # flattens and deduplicates those.
    all_of = st.lists(
        children.filter(lambda e: not isinstance(e, AllOf)), min_size=2, max_size=3, unique=True
    )
    any_of = st.lists(
        children.filter(lambda e: not isinstance(e, AnyOf)), min_size=2, max_size=3, unique=True
    )
    return st.one_of(
        all_of.map(lambda ops: AllOf(tuple(ops))), any_of.map(lambda ops: AnyOf(tuple(ops)))
    )


exprs = st.recursive(leaves, _combine, max_leaves=8)
service_types = st.sampled_from(
    ["*", "identity", "image", "compute", "network", "block-storage", "placement"]
)
scopes = st.dictionaries(service_types, exprs, min_size=1, max_size=5).map(
    lambda d: Scope(tuple(ScopeEntry(k, d[k]) for k in sorted(d)))
)


@given(scopes)
@settings(max_examples=300)
def test_printed_scopes_parse_back_to_themselves(scope: Scope) -> None:
    assert parse_scope(str(scope)) == scope


@given(st.text(max_size=80))
@settings(max_examples=500)
def test_arbitrary_text_raises_only_scope_syntax_errors(text: str) -> None:
    try:
        parse_scope(text)
    except ScopeSyntaxError as error:
        assert error.line >= 1 and error.column >= 1
        str(error)


tokens = st.sampled_from(
    [
        "{",
        "}",
        ";",
        ":",
        "&",
        "|",
        "(",
        ")",
        "@",
        "=",
        "*",
        " ",
        "\n",
        '"',
        ",",
        "glance",
        "keystone",
        "cloud-1",
        "edge-*",
        "region",
        "eu",
        "image",
        "x",
    ]
)


@given(st.lists(tokens, max_size=20).map("".join))
@settings(max_examples=1000)
def test_near_valid_text_raises_only_scope_syntax_errors(text: str) -> None:
    try:
        parse_scope(text)
    except ScopeSyntaxError as error:
        assert error.line >= 1 and error.column >= 1
        str(error)
