"""The in-memory registry: O(1) by name, selectors answered from indexes."""

from __future__ import annotations

import difflib
import fnmatch
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import assert_never

from openstackoid.registry.errors import UnknownCloudError
from openstackoid.registry.model import Cloud
from openstackoid.scope_dsl import CloudGlob, CloudRef, GroupSelector, LabelSelector, Selector

_MAX_SUGGESTION_CANDIDATES = 2000
"""difflib over 10,000 names takes tens of ms: compare with a bounded, likely subset."""


class Registry:
    """Every cloud the proxy can reach, indexed for per-request lookups.

    Selections are cached per selector and dropped on any change, so a request pays a dict
    lookup, not a scan of thousands of clouds.
    """

    def __init__(self, clouds: Iterable[Cloud] = ()) -> None:
        self._by_name: dict[str, Cloud] = {}
        # dict-as-ordered-set keeps selections in registration order.
        self._by_label: defaultdict[tuple[str, str], dict[str, None]] = defaultdict(dict)
        self._by_group: defaultdict[str, dict[str, None]] = defaultdict(dict)
        self._selections: dict[tuple[str, ...], tuple[Cloud, ...]] = {}
        self.version = 0
        """Bumped on every change, for callers caching derived data."""
        for cloud in clouds:
            self.upsert(cloud)

    def __len__(self) -> int:
        return len(self._by_name)

    def __iter__(self) -> Iterator[Cloud]:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        return list(self._by_name)

    def get(self, name: str) -> Cloud:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownCloudError(name, self.suggest(name)) from None

    def suggest(self, name: str) -> tuple[str, ...]:
        """The closest registered names, for error messages."""
        head = name[:1]
        candidates = [n for n in self._by_name if n[:1] == head][:_MAX_SUGGESTION_CANDIDATES]
        if not candidates:
            candidates = list(self._by_name)[:_MAX_SUGGESTION_CANDIDATES]
        return tuple(difflib.get_close_matches(name, candidates, n=3, cutoff=0.6))

    def upsert(self, cloud: Cloud) -> None:
        if cloud.name in self._by_name:
            self._unindex(self._by_name[cloud.name])
        self._by_name[cloud.name] = cloud
        for item in cloud.labels.items():
            self._by_label[item][cloud.name] = None
        for group in cloud.groups:
            self._by_group[group][cloud.name] = None
        self._changed()

    def remove(self, name: str) -> Cloud:
        cloud = self.get(name)
        self._unindex(cloud)
        del self._by_name[name]
        self._changed()
        return cloud

    def _unindex(self, cloud: Cloud) -> None:
        for item in cloud.labels.items():
            self._by_label[item].pop(cloud.name, None)
        for group in cloud.groups:
            self._by_group[group].pop(cloud.name, None)

    def _changed(self) -> None:
        self._selections.clear()
        self.version += 1

    def _cached(self, key: tuple[str, ...], names: Iterable[str]) -> tuple[Cloud, ...]:
        found = self._selections.get(key)
        if found is None:
            found = tuple(self._by_name[n] for n in names)
            self._selections[key] = found
        return found

    def select_glob(self, pattern: str) -> tuple[Cloud, ...]:
        found = self._selections.get(("glob", pattern))
        if found is not None:
            return found
        return self._cached(("glob", pattern), fnmatch.filter(self._by_name, pattern))

    def select_label(self, key: str, value: str) -> tuple[Cloud, ...]:
        found = self._selections.get(("label", key, value))
        if found is not None:
            return found
        return self._cached(("label", key, value), self._by_label.get((key, value), ()))

    def select_group(self, name: str) -> tuple[Cloud, ...]:
        found = self._selections.get(("group", name))
        if found is not None:
            return found
        return self._cached(("group", name), self._by_group.get(name, ()))

    def select(self, selector: Selector) -> tuple[Cloud, ...]:
        """The clouds a scope_dsl selector stands for; an unknown CloudRef raises
        UnknownCloudError, a selector matching nothing gives an empty tuple."""
        match selector:
            case CloudRef(name=name):
                return (self.get(name),)
            case CloudGlob(pattern=pattern):
                return self.select_glob(pattern)
            case LabelSelector(key=key, value=value):
                return self.select_label(key, value)
            case GroupSelector(name=name):
                return self.select_group(name)
            case _:
                assert_never(selector)
