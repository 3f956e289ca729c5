"""Named messages for the usual mistakes, matched by parser state like lark's
match_examples, with the examples parsed once: match_examples parses all of them again for
each error (~1 ms per invalid scope, paid by whoever sends one)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from lark import Token, UnexpectedEOF, UnexpectedInput, UnexpectedToken

EXAMPLES: dict[str, list[str]] = {
    "missing '}' at the end of the scope": [
        "{keystone: cloud-1",
        "{keystone: cloud-1; glance: cloud-2",
        "{a: b & c",
        "{a: b | c",
        "{a: @g",
        "{a: k=v",
    ],
    "expected ':' after the service name": [
        "{keystone cloud-1}",
        "{glance}",
        "{a: b; glance}",
        "{a: b; c d}",
        "{a",
    ],
    "expected a service after ';' (remove the trailing ';')": [
        "{a: b;}",
        "{a: b;;c: d}",
        "{;}",
        "{a: b;",
        "a: b;",
        "a: b;;c: d",
    ],
    "expected a cloud after ':'": [
        "{a: }",
        "{a: ; b: c}",
        "{a:",
        "{a: )}",
        "a:",
        "a: ; b: c",
    ],
    "expected a cloud after the operator": [
        "{a: b &}",
        "{a: b |}",
        "{a: b & ; c: d}",
        "{a: b | ; c: d}",
        "a &",
        "a |",
        "{a: b &",
        "{a: b |",
        "{a: b & )}",
        "a: b &",
        "a: b |",
        "a: b; c: d &",
        "a: b; c: d |",
        "a: b & ; c: d",
        "a: b | ; c: d",
    ],
    "unbalanced parentheses": [
        "{a: (b | c}",
        "{a: (b | c",
        "{a: b)}",
        "(a",
        "(a | b",
        "a)",
        "{a: ((b)}",
    ],
    "expected ';' or '}' between entries": [
        "{a: b c: d}",
        "{a: b c}",
    ],
    "expected a group name after '@'": [
        "{a: @}",
        "{a: @ & b}",
        "@",
    ],
    "expected a label value after '='": [
        "{a: k=}",
        "{a: k= & b}",
        "k=",
    ],
}


@dataclass(frozen=True)
class _Known:
    """Where the parser stood when one example failed."""

    label: str
    state: object
    token: Token | None
    accepts: frozenset[str] | None
    """The tokens the parser would have taken (UnexpectedToken only)."""


def _known(label: str, error: UnexpectedInput) -> _Known:
    token = error.token if isinstance(error, UnexpectedToken | UnexpectedEOF) else None
    accepts = frozenset(error.accepts) if isinstance(error, UnexpectedToken) else None
    return _Known(label, error.state, token, accepts)


class Mistakes:
    def __init__(self, parse: Callable[[str], object], examples: Mapping[str, Iterable[str]]):
        self._known: list[_Known] = []
        for label, texts in examples.items():
            for text in texts:
                try:
                    parse(text)
                except UnexpectedInput as error:
                    self._known.append(_known(label, error))

    def label(self, error: UnexpectedInput) -> str | None:
        """The message of the first example failing the same way: same parser state and
        accepted tokens, the same token if one does, else the first in the same state."""
        seen = _known("", error)
        candidate = None
        for known in self._known:
            if known.state != seen.state:
                continue
            if seen.accepts is not None and known.accepts not in (None, seen.accepts):
                continue
            if seen.token is not None and known.token == seen.token:
                return known.label
            candidate = candidate or known.label
        return candidate
