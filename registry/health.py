"""How current a proxy's copy of a central store is: the value /healthz and /metrics read.

Any component that follows a central store (the registry's PostgreSQL, a Redis scope
memory) registers a HealthSource under its name; the proxy reports them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

State = Literal["live", "stale", "snapshot", "waiting"]
STATES: tuple[State, ...] = ("live", "stale", "snapshot", "waiting")
"""live: in step with the store. stale: the store was lost, the copy is as last synced.
snapshot: started without the store, the copy is the last one saved to disk.
waiting: no copy at all yet."""


@dataclass(frozen=True)
class ComponentHealth:
    state: State
    since: float
    """Wall-clock time (epoch seconds) the component entered this state."""
    last_sync: float | None
    """When the copy was last known to match the store; None: never."""
    reason: str | None = None
    """Why the component is not live, in one sentence."""

    @property
    def degraded(self) -> bool:
        return self.state != "live"

    def sync_age(self, now: float) -> float | None:
        return None if self.last_sync is None else max(0.0, now - self.last_sync)

    def as_dict(self, now: float) -> dict[str, Any]:
        age = self.sync_age(now)
        body: dict[str, Any] = {
            "state": self.state,
            "since": _iso(self.since),
            "last_sync": None if self.last_sync is None else _iso(self.last_sync),
            "sync_age_seconds": None if age is None else round(age, 3),
        }
        if self.reason:
            body["reason"] = self.reason
        return body

    def summary(self) -> str:
        """`live`, `stale since <time>`, `snapshot since <time>`, `waiting since <time>`."""
        return "live" if self.state == "live" else f"{self.state} since {_iso(self.since)}"


HealthSource = Callable[[], ComponentHealth]
"""A component's current health; called at every /healthz and /metrics scrape."""


@dataclass(frozen=True)
class HealthReport:
    status: Literal["ok", "degraded"]
    components: dict[str, dict[str, Any]]
    reasons: tuple[str, ...]


def health_report(sources: dict[str, HealthSource], now: float | None = None) -> HealthReport:
    now = time.time() if now is None else now
    components: dict[str, dict[str, Any]] = {}
    reasons: list[str] = []
    for name, source in sorted(sources.items()):
        health = source()
        components[name] = {"summary": health.summary(), **health.as_dict(now)}
        if health.degraded:
            reasons.append(f"{name} {health.summary()}: {health.reason or 'no reason given'}")
    return HealthReport("degraded" if reasons else "ok", components, tuple(reasons))


class _HealthCollector(Collector):
    def __init__(self, sources: dict[str, HealthSource]) -> None:
        self.sources = sources

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        state = GaugeMetricFamily(
            "openstackoid_component_state",
            "1 for the state a component following a central store is in, 0 for the others",
            labels=["component", "state"],
        )
        age = GaugeMetricFamily(
            "openstackoid_component_sync_age_seconds",
            "Seconds since the component's copy was last known to match its store",
            labels=["component"],
        )
        for name, source in sorted(self.sources.items()):
            health = source()
            for each in STATES:
                state.add_metric([name, each], 1.0 if health.state == each else 0.0)
            sync_age = health.sync_age(now)
            if sync_age is not None:
                age.add_metric([name], sync_age)
        yield state
        yield age


def health_exposition(sources: dict[str, HealthSource]) -> bytes:
    """The components' state in Prometheus text format, read at scrape time."""
    if not sources:
        return b""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_HealthCollector(sources))
    return bytes(generate_latest(registry))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
