"""Limits checked before parsing: a scope arrives in a header of any client, token or not, so
its cost must stay small and known whatever the text.

Measured with lark's LALR parser here: ~5 µs per token, so a 4 KB scope of 2,000 `*` terms
cost 20 ms to parse, and 1,000 nested parentheses overflowed the transformer's recursion.
"""

from __future__ import annotations

import re

from openstackoid.scope_dsl.errors import ScopeLimitExceeded

MAX_SCOPE_LENGTH = 4096
"""Longer scopes are refused before parsing: a header is no place for a novel."""
MAX_SCOPE_TERMS = 128
"""Cloud names and selectors in one scope. Listing clouds one by one stops being readable
long before this (bench_fanout lists 100); thousands of clouds are named by a selector
(`edge-*`, `@edge`, `region=eu`)."""
MAX_SCOPE_DEPTH = 16
"""Parentheses nested in one expression; `&` binds tighter than `|`, so a sensible scope
needs two or three levels."""

_SEPARATORS = re.compile(r"[&|;,]")
"""Each separator adds at most one term: `&` `|` between clouds, `;` between DSL entries,
`,` between JSON entries. A cheap upper bound, exact for a valid scope."""
_PARENTHESES = re.compile(r"[()]")


def _line_column(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _check_length(text: str) -> None:
    if len(text) > MAX_SCOPE_LENGTH:
        raise ScopeLimitExceeded(
            f"scope is {len(text)} characters long, the limit is {MAX_SCOPE_LENGTH}",
            text[: MAX_SCOPE_LENGTH + 1],
            *_line_column(text, MAX_SCOPE_LENGTH),
        )


def _check_terms(text: str) -> None:
    separators = sum(text.count(mark) for mark in "&|;,")
    if separators + 1 <= MAX_SCOPE_TERMS:
        return
    for number, found in enumerate(_SEPARATORS.finditer(text), start=2):
        if number > MAX_SCOPE_TERMS:
            raise ScopeLimitExceeded(
                f"scope names more than {MAX_SCOPE_TERMS} clouds or selectors, the limit; "
                "name many clouds with a selector (edge-*, @group, label=value)",
                text,
                *_line_column(text, found.start()),
            )


def _check_depth(text: str) -> None:
    if text.count("(") <= MAX_SCOPE_DEPTH:
        return  # cannot nest deeper than it has parentheses
    depth = 0
    for found in _PARENTHESES.finditer(text):
        depth += 1 if found.group() == "(" else -1
        if depth > MAX_SCOPE_DEPTH:
            raise ScopeLimitExceeded(
                f"parentheses nest more than {MAX_SCOPE_DEPTH} deep, the limit",
                text,
                *_line_column(text, found.start()),
            )


def check_limits(text: str) -> None:
    """Raise ScopeLimitExceeded if the text is too long, nests too deep or names too many
    clouds; linear in the text and done in C for nearly every scope."""
    _check_length(text)
    _check_depth(text)
    _check_terms(text)
