"""A memo of parse results bounded by bytes, failures included.

Parsing costs up to ~2 ms at the limits against ~0.1 µs for a hit, and every client can send
any scope: a count alone does not bound memory (a 4 KB scope of 128 clouds weighs ~25 KB
parsed, a usual one ~1.7 KB), so each entry is charged an estimate of its weight."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from openstackoid.scope_dsl.ast import Scope
from openstackoid.scope_dsl.errors import ScopeSyntaxError
from openstackoid.scope_dsl.limits import MAX_SCOPE_LENGTH

PARSED_SCOPE_BYTES = 32 * 1024 * 1024
"""~20,000 usual scopes (a proxy in front of 10,000 clouds sees at least as many), or ~1,300
scopes at the limits."""

_ENTRY_BYTES = 700
_TERM_BYTES = 160
"""Measured with tracemalloc: a parsed scope weighs ~700 bytes plus ~135 per cloud term,
plus its text (the key)."""


@dataclass(frozen=True)
class Refusal:
    """A failed parse, kept without its traceback or text (the key holds the text)."""

    error: type[ScopeSyntaxError]
    message: str
    line: int
    column: int
    suggestion: str | None

    @classmethod
    def of(cls, error: ScopeSyntaxError) -> Refusal:
        return cls(type(error), error.message, error.line, error.column, error.suggestion)

    def raise_for(self, text: str) -> NoReturn:
        raise self.error(self.message, text, self.line, self.column, self.suggestion)


@dataclass(frozen=True)
class MemoInfo:
    hits: int
    misses: int
    entries: int
    bytes: int
    max_bytes: int


def weight(text: str, result: Scope | Refusal) -> int:
    """Estimated bytes an entry holds: its text and, for a scope, its terms."""
    terms = 0
    if isinstance(result, Scope):
        terms = sum(text.count(mark) for mark in "&|;,") + 1
    return _ENTRY_BYTES + len(text) + _TERM_BYTES * terms


class ParseMemo:
    """Results by text; the oldest entries leave first once `max_bytes` is reached. Oldest
    in insertion order, not use: a hit then costs one dict lookup, and a scope pushed out
    by a burst of new ones is parsed once more."""

    def __init__(self, parse: Callable[[str], Scope], max_bytes: int = PARSED_SCOPE_BYTES):
        self._parse = parse
        self.max_bytes = max_bytes
        self._kept: dict[str, Scope | Refusal] = {}
        self._bytes = 0
        self._hits = 0
        self._misses = 0

    def __call__(self, text: str) -> Scope:
        found = self._kept.get(text)
        if found is None:
            found = self._miss(text)
        else:
            self._hits += 1
        if isinstance(found, Refusal):
            found.raise_for(text)
        return found

    def _miss(self, text: str) -> Scope | Refusal:
        self._misses += 1
        result: Scope | Refusal
        try:
            result = self._parse(text)
        except ScopeSyntaxError as error:
            result = Refusal.of(error)
        size = weight(text, result)
        if size > self.max_bytes or len(text) > MAX_SCOPE_LENGTH:
            return result  # refused by its length alone: cheaper than a memo entry
        while self._bytes + size > self.max_bytes:
            oldest = next(iter(self._kept))
            self._bytes -= weight(oldest, self._kept.pop(oldest))
        self._kept[text] = result
        self._bytes += size
        return result

    def cache_clear(self) -> None:
        self._kept.clear()
        self._bytes = self._hits = self._misses = 0

    def cache_info(self) -> MemoInfo:
        return MemoInfo(self._hits, self._misses, len(self._kept), self._bytes, self.max_bytes)
