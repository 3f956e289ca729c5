"""The scope AST: frozen values that print back to the canonical scope text."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

DEFAULT_SERVICE = "*"
"""The service key that stands for every service the scope does not list."""


@dataclass(frozen=True)
class CloudRef:
    """One cloud, by its registry name."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class CloudGlob:
    """Every cloud whose name matches an fnmatch pattern, e.g. `edge-*`."""

    pattern: str

    def __str__(self) -> str:
        return self.pattern


@dataclass(frozen=True)
class LabelSelector:
    """Every cloud labelled `key=value`, e.g. `region=eu`."""

    key: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


@dataclass(frozen=True)
class GroupSelector:
    """Every cloud of a group, e.g. `@edge`."""

    name: str

    def __str__(self) -> str:
        return f"@{self.name}"


@dataclass(frozen=True)
class AllOf:
    """`a & b`: every cloud answers; the proxy fans out and merges."""

    operands: tuple[CloudExpr, ...]

    def __str__(self) -> str:
        return " & ".join(_operand(op) for op in self.operands)


@dataclass(frozen=True)
class AnyOf:
    """`a | b`: the first cloud that answers, in order (failover)."""

    operands: tuple[CloudExpr, ...]

    def __str__(self) -> str:
        return " | ".join(str(op) for op in self.operands)


CloudExpr = CloudRef | CloudGlob | LabelSelector | GroupSelector | AllOf | AnyOf
Selector = CloudRef | CloudGlob | LabelSelector | GroupSelector


def _operand(expr: CloudExpr) -> str:
    # `&` binds tighter than `|`, so only an AnyOf inside an AllOf needs parentheses.
    return f"({expr})" if isinstance(expr, AnyOf) else str(expr)


@dataclass(frozen=True)
class ScopeEntry:
    """One `service: expression` pair; the service is an official service type or `*`."""

    service_type: str
    expr: CloudExpr

    def __str__(self) -> str:
        return f"{self.service_type}: {self.expr}"


@dataclass(frozen=True)
class Scope:
    """A whole scope. Entries are sorted by service type, so equal scopes compare equal."""

    entries: tuple[ScopeEntry, ...]

    @cached_property
    def _by_service(self) -> dict[str, CloudExpr]:
        return {entry.service_type: entry.expr for entry in self.entries}

    @cached_property
    def service_types(self) -> frozenset[str]:
        """The service types the scope names, `*` included."""
        return frozenset(entry.service_type for entry in self.entries)

    def expr_for(self, service_type: str) -> CloudExpr | None:
        """The expression for a service: its own entry, else the `*` entry, else None."""
        by_service = self._by_service
        return by_service.get(service_type, by_service.get(DEFAULT_SERVICE))

    def __str__(self) -> str:
        return "{" + "; ".join(str(entry) for entry in self.entries) + "}"
