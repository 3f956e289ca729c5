"""parse_scope: scope text (DSL or OpenStackoid JSON) to a Scope, cached and pure."""

from __future__ import annotations

from typing import cast

from lark import Lark, Token, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput
from lark.exceptions import VisitError

from openstackoid.scope_dsl.ast import CloudExpr, Scope, ScopeEntry
from openstackoid.scope_dsl.errors import ScopeSyntaxError
from openstackoid.scope_dsl.json_form import looks_like_json, parse_json_scope
from openstackoid.scope_dsl.limits import check_limits
from openstackoid.scope_dsl.memo import ParseMemo
from openstackoid.scope_dsl.mistakes import EXAMPLES, Mistakes
from openstackoid.scope_dsl.services import official_service_type, suggest_service
from openstackoid.scope_dsl.transformer import RawEntry, ScopeTransformer

_PARSER = Lark.open_from_package(
    "openstackoid.scope_dsl",
    "scope.lark",
    parser="lalr",
    strict=True,
    propagate_positions=True,
    start=["start", "expr"],
)
_TRANSFORMER = ScopeTransformer()

_MISTAKES = Mistakes(lambda text: _PARSER.parse(text, start="start"), EXAMPLES)


def _end_position(text: str) -> tuple[int, int]:
    # UnexpectedEOF reports line -1: point just past the last character instead.
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


def _position(exc: UnexpectedInput, text: str) -> tuple[int, int]:
    if isinstance(exc, UnexpectedEOF) or exc.line in (None, -1):
        return _end_position(text)
    token = getattr(exc, "token", None)
    if isinstance(token, Token) and token.type == "$END":
        return _end_position(text)
    return exc.line, exc.column


def _describe(exc: UnexpectedInput, text: str) -> str:
    if isinstance(exc, UnexpectedCharacters):
        return f"unexpected character {exc.char!r} (names use letters, digits, '-', '_' and '.')"
    token = getattr(exc, "token", None)
    if isinstance(token, Token) and token.type != "$END":
        return f"unexpected {str(token)!r}"
    return "unexpected end of input"


def _syntax_error(exc: UnexpectedInput, text: str) -> ScopeSyntaxError:
    label = None
    if not isinstance(exc, UnexpectedCharacters):  # a stray character is its own message
        label = _MISTAKES.label(exc)
    line, column = _position(exc, text)
    return ScopeSyntaxError(label or _describe(exc, text), text, line, column)


def _checked_entries(raw: list[RawEntry], text: str) -> Scope:
    if not raw:
        line, column = _end_position(text)
        raise ScopeSyntaxError(
            "empty scope: name at least one service",
            text,
            line,
            column,
            "For example: {keystone: cloud-1; glance: cloud-2}",
        )
    entries: dict[str, ScopeEntry] = {}
    for item in raw:
        key = str(item.key)
        service_type = official_service_type(key)
        line, column = item.key.line or 1, item.key.column or 1
        if service_type is None:
            raise ScopeSyntaxError(
                f"unknown service {key!r}", text, line, column, suggest_service(key)
            )
        if service_type in entries:
            raise ScopeSyntaxError(
                f"duplicate service {key!r} (service type {service_type!r} is already set)",
                text,
                line,
                column,
            )
        entries[service_type] = ScopeEntry(service_type, item.expr)
    return Scope(tuple(entries[name] for name in sorted(entries)))


def _parse_dsl(text: str) -> Scope:
    try:
        tree = _PARSER.parse(text, start="start")
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text) from None
    try:
        raw: list[RawEntry] = _TRANSFORMER.transform(tree)
    except VisitError as exc:  # pragma: no cover - the transformer raises nothing itself
        raise exc.orig_exc from None
    return _checked_entries(raw, text)


def _parse_expr_text(value: str, text: str, line: int, column: int) -> RawEntry:
    """One JSON value, parsed as a cloud expression; errors point into the JSON text."""
    try:
        tree = _PARSER.parse(value, start="expr")
    except UnexpectedInput as exc:
        _, inner_column = _position(exc, value)
        raise ScopeSyntaxError(
            f"invalid cloud expression {value!r}: {_describe(exc, value)}",
            text,
            line,
            column + inner_column,
        ) from None
    # With start="expr" the transformer yields a CloudExpr, not entries.
    expr = cast(CloudExpr, _TRANSFORMER.transform(tree))
    return RawEntry(Token("WORD", "", line=line, column=column), expr)


def _parse_uncached(text: str) -> Scope:
    check_limits(text)
    if looks_like_json(text):
        return _checked_entries(parse_json_scope(text, _parse_expr_text), text)
    return _parse_dsl(text)


parse_scope = ParseMemo(_parse_uncached)
"""Parse a scope given in the DSL or in OpenStackoid's JSON form.

Pure and memoised, refusals included: a scope seen before costs one dict lookup. Raises
ScopeSyntaxError (ScopeLimitExceeded past scope_dsl.limits, before any parsing)."""
