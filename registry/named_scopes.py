"""Named scopes: a short name (`fed-c2`) standing for a scope
(`{keystone: cloud-1; glance: cloud-2}`), so a URL or a clouds.yaml can say the name.

RegistryError
 +-- InvalidNamedScopeError (ValueError)  a bad name, a scope that does not parse, too many
 +-- UnknownNamedScopeError (LookupError) no named scope by that name
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from openstackoid.registry.errors import RegistryError
from openstackoid.scope_dsl import Scope, ScopeSyntaxError, parse_scope

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""A name is one URL path segment as it is (no percent-encoding) and no scope with a `:`,
so the proxy tells `/scope/fed-c2/` from an inline `/scope/image:cloud-2/` at a glance."""
MAX_NAMED_SCOPES = 10_000
"""Every proxy keeps them all in memory: an admin-API loop must not fill it."""
MAX_DESCRIPTION = 1000


class InvalidNamedScopeError(RegistryError, ValueError):
    """A named scope that cannot be registered."""


class UnknownNamedScopeError(RegistryError, LookupError):
    def __init__(self, name: str, suggestions: tuple[str, ...] = ()) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f" Did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"Unknown named scope {name!r}.{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class NamedScope:
    name: str
    scope: Scope
    description: str = ""

    @property
    def text(self) -> str:
        """The scope in its canonical form (what X-Scope would carry)."""
        return str(self.scope)

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "scope": self.text, "description": self.description}


def named_scope(name: str, scope: str, description: str = "") -> NamedScope:
    """A checked NamedScope; raises InvalidNamedScopeError with the scope's caret."""
    if not NAME.match(name):
        raise InvalidNamedScopeError(
            f"invalid scope name {name!r}: letters, digits, '.', '_' and '-', at most 64, "
            "starting with a letter or digit"
        )
    if len(description) > MAX_DESCRIPTION:
        raise InvalidNamedScopeError(f"the description exceeds {MAX_DESCRIPTION} characters")
    try:
        parsed = parse_scope(scope)
    except ScopeSyntaxError as exc:
        raise InvalidNamedScopeError(f"the scope of {name!r} does not parse: {exc}") from exc
    return NamedScope(name, parsed, description)


def named_scope_from_dict(data: Mapping[str, Any]) -> NamedScope:
    """A named scope from a JSON object (admin API body, stored row)."""
    name, scope = data.get("name"), data.get("scope")
    description = data.get("description") or ""
    if not isinstance(name, str) or not isinstance(scope, str):
        raise InvalidNamedScopeError("a named scope needs `name` and `scope` strings")
    if not isinstance(description, str):
        raise InvalidNamedScopeError("`description` must be a string")
    return named_scope(name, scope, description)


class NamedScopes:
    """Every named scope one proxy knows, by name (bounded)."""

    def __init__(self, scopes: Iterable[NamedScope] = (), limit: int = MAX_NAMED_SCOPES) -> None:
        self.limit = limit
        self._by_name: dict[str, NamedScope] = {}
        for scope in scopes:
            self.upsert(scope)

    def get(self, name: str) -> NamedScope:
        found = self._by_name.get(name)
        if found is None:
            close = difflib.get_close_matches(name, list(self._by_name), n=3, cutoff=0.75)
            raise UnknownNamedScopeError(name, tuple(close))
        return found

    def find(self, name: str) -> NamedScope | None:
        return self._by_name.get(name)

    def upsert(self, scope: NamedScope) -> None:
        if scope.name not in self._by_name and len(self._by_name) >= self.limit:
            raise InvalidNamedScopeError(
                f"{self.limit} named scopes are registered already: remove some first"
            )
        self._by_name[scope.name] = scope

    def remove(self, name: str) -> bool:
        return self._by_name.pop(name, None) is not None

    def replace_all(self, scopes: list[NamedScope]) -> None:
        self._by_name = {scope.name: scope for scope in scopes[: self.limit]}

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[NamedScope]:
        return iter(list(self._by_name.values()))

    def __len__(self) -> int:
        return len(self._by_name)
