"""Bring a running Registry in line with a fresh read of its sources (the proxy's SIGHUP)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from openstackoid.registry.index import Registry
from openstackoid.registry.model import Cloud


@dataclass(frozen=True)
class Reloaded:
    """What a reload changed, by cloud name, and every cloud the sources hold now."""

    added: tuple[str, ...]
    updated: tuple[str, ...]
    removed: tuple[str, ...]
    sourced: frozenset[str]

    def __str__(self) -> str:
        return f"{len(self.added)} added, {len(self.updated)} changed, {len(self.removed)} removed"


def reload_registry(
    registry: Registry, clouds: Iterable[Cloud], previously_sourced: frozenset[str]
) -> Reloaded:
    """Upsert new and changed clouds; remove those the sources held before and no longer do.

    Clouds the sources never held (added through the admin API) are left alone, and an
    unchanged cloud is not touched: every change drops the registry's cached selections.
    """
    added: list[str] = []
    updated: list[str] = []
    fresh: dict[str, Cloud] = {cloud.name: cloud for cloud in clouds}
    for name, cloud in fresh.items():
        if name not in registry:
            added.append(name)
        elif registry.get(name) != cloud:
            updated.append(name)
        else:
            continue
        registry.upsert(cloud)
    removed = sorted(name for name in previously_sourced - fresh.keys() if name in registry)
    for name in removed:
        registry.remove(name)
    return Reloaded(tuple(added), tuple(updated), tuple(removed), frozenset(fresh))
