"""Parse tree to AST. Entries keep their key token so semantic errors can point at it."""

from __future__ import annotations

from dataclasses import dataclass

from lark import Token, Transformer, v_args

from openstackoid.scope_dsl.ast import (
    AllOf,
    AnyOf,
    CloudExpr,
    CloudGlob,
    CloudRef,
    GroupSelector,
    LabelSelector,
)

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class RawEntry:
    """An entry before its service key is checked: the key token keeps its position."""

    key: Token
    expr: CloudExpr


def _flatten(kind: type[AllOf] | type[AnyOf], operands: tuple[CloudExpr, ...]) -> CloudExpr:
    # a & (b & c) is a & b & c, and a & a is a: one canonical shape per meaning. A cloud
    # named twice is asked once (`a & a & ...` multiplied a fan-out's calls, issue 15).
    flat: dict[CloudExpr, None] = {}
    for operand in operands:
        flat.update(dict.fromkeys(operand.operands if isinstance(operand, kind) else (operand,)))
    if len(flat) == 1:
        return next(iter(flat))
    return kind(tuple(flat))


@v_args(inline=True)
class ScopeTransformer(Transformer[Token, "list[RawEntry]"]):
    def cloud(self, word: Token) -> CloudExpr:
        text = str(word)
        return CloudGlob(text) if _GLOB_CHARS & set(text) else CloudRef(text)

    def group(self, word: Token) -> CloudExpr:
        return GroupSelector(str(word))

    def label(self, key: Token, value: Token) -> CloudExpr:
        return LabelSelector(str(key), str(value))

    def all_of(self, *operands: CloudExpr) -> CloudExpr:
        return _flatten(AllOf, operands)

    def any_of(self, *operands: CloudExpr) -> CloudExpr:
        return _flatten(AnyOf, operands)

    def entry(self, key: Token, expr: CloudExpr) -> RawEntry:
        return RawEntry(key, expr)

    def braced(self, *entries: RawEntry | None) -> list[RawEntry]:
        return [entry for entry in entries if entry is not None]

    def bare(self, expr: CloudExpr) -> list[RawEntry]:
        return [RawEntry(Token("WORD", "*", line=1, column=1), expr)]
