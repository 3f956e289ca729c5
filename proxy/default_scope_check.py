"""Whether the default scope names clouds the registry holds: checked at start and reload.

A typo in `--default-scope` would otherwise surface only as a 400 on every unscoped
request. Only clouds named outright count: a selector (`@edge`, `region=eu`, `edge-*`)
may rightly match nothing until clouds arrive.
"""

from __future__ import annotations

from collections.abc import Iterator

from openstackoid.proxy.config import ProxyConfig
from openstackoid.registry import Registry
from openstackoid.scope_dsl import AllOf, AnyOf, CloudExpr, CloudRef, parse_scope


def named_clouds(expr: CloudExpr) -> Iterator[str]:
    match expr:
        case CloudRef(name=name):
            yield name
        case AllOf(operands=operands) | AnyOf(operands=operands):
            for operand in operands:
                yield from named_clouds(operand)
        case _:
            return  # selectors may match nothing now and clouds later


def unknown_default_clouds(config: ProxyConfig, registry: Registry) -> list[str]:
    """What is wrong with the default scope against this registry, one line per cloud."""
    if not config.default_scope:
        return []
    scope = parse_scope(config.default_scope)
    problems = []
    for entry in scope.entries:
        for name in named_clouds(entry.expr):
            if name not in registry:
                hint = registry.suggest(name)
                did_you_mean = f" (did you mean {', '.join(hint)}?)" if hint else ""
                problems.append(f"{entry.service_type}: no cloud {name!r}{did_you_mean}")
    return problems
