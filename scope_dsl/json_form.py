"""OpenStackoid's original JSON scope form: {"compute": "CloudOne", "image": "CloudTwo"}."""

from __future__ import annotations

import json
from collections.abc import Callable

from lark import Token

from openstackoid.scope_dsl.errors import ScopeSyntaxError
from openstackoid.scope_dsl.transformer import RawEntry

ExprParser = Callable[[str, str, int, int], RawEntry]


def looks_like_json(text: str) -> bool:
    """JSON keys are quoted; DSL keys never are."""
    stripped = text.lstrip()
    return stripped.startswith("{") and stripped[1:].lstrip().startswith('"')


def _locate(text: str, needle: str, start: int) -> tuple[int, int, int]:
    index = text.find(needle, start)
    index = max(index, 0)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return index, line, column


def parse_json_scope(text: str, parse_expr: ExprParser) -> list[RawEntry]:
    """Entries of a JSON scope; every value is itself a cloud expression ("a | b")."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScopeSyntaxError(
            f"invalid JSON scope: {exc.msg}", text, exc.lineno, exc.colno
        ) from None
    except RecursionError:  # `[[[[...`: the C decoder recurses per level
        raise ScopeSyntaxError("invalid JSON scope: nested too deep", text, 1, 1) from None
    if not isinstance(document, dict):
        raise ScopeSyntaxError("a JSON scope must be an object", text, 1, 1)
    entries: list[RawEntry] = []
    cursor = 0
    for key, value in document.items():
        index, line, column = _locate(text, json.dumps(key), cursor)
        cursor = index + 1
        if not isinstance(value, str):
            raise ScopeSyntaxError(
                f"the cloud of service {key!r} must be a string, not {type(value).__name__}",
                text,
                line,
                column,
            )
        _, value_line, value_column = _locate(text, json.dumps(value), cursor)
        parsed = parse_expr(value, text, value_line, value_column)
        entries.append(RawEntry(Token("WORD", key, line=line, column=column), parsed.expr))
    return entries
