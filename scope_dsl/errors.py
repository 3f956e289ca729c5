"""The scope_dsl error tree.

ScopeError (ValueError)
 +-- ScopeSyntaxError   the text is not a valid scope; carries line, column and a caret
      +-- ScopeLimitExceeded  too long, too many clouds or nested too deep (scope_dsl.limits)
"""

from __future__ import annotations


class ScopeError(ValueError):
    """Root of every error scope_dsl raises."""


class ScopeSyntaxError(ScopeError):
    """A scope that cannot be parsed, located at a line and column of the input."""

    def __init__(
        self,
        message: str,
        text: str,
        line: int,
        column: int,
        suggestion: str | None = None,
    ) -> None:
        self.message = message
        self.text = text
        self.line = line
        self.column = column
        self.suggestion = suggestion
        super().__init__(str(self))

    @property
    def caret(self) -> str:
        """The offending input line with a `^` under the column."""
        lines = self.text.splitlines() or [""]
        source = lines[min(self.line, len(lines)) - 1]
        if len(source) > 120:  # keep the caret readable on long inputs
            start = max(0, self.column - 60)
            source = source[start : start + 120]
            column = self.column - start
        else:
            column = self.column
        return f"  {source}\n  {' ' * (column - 1)}^"

    def __str__(self) -> str:
        text = (
            f"Invalid scope: {self.message} at line {self.line}, column {self.column}\n{self.caret}"
        )
        if self.suggestion:
            text += f"\n{self.suggestion}"
        return text


class ScopeLimitExceeded(ScopeSyntaxError):
    """A scope past one of the limits in scope_dsl.limits, refused before parsing."""
