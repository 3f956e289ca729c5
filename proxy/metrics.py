"""Prometheus metrics of the proxy, in a registry of its own."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Set by `openstackoid proxy --workers N` for its workers: counters live in files there."""
FLUSH_SECONDS = 1.0
"""How often counts kept in plain dicts are folded into the prometheus counters: a scrape
sees its own worker's counts at once, another worker's within this delay."""


@dataclass
class ProxyMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _children: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)
    """Labelled children by (metric, labels): `.labels()` validates on every call (~3 µs),
    a dict hit costs ~0.1 µs, and prometheus keeps every child anyway."""
    _requests: dict[tuple[str, int], int] = field(default_factory=dict, repr=False)
    _upstream: dict[tuple[str, str, int | None], int] = field(default_factory=dict, repr=False)
    """Counts not yet folded in, by labels. A prometheus `inc()` takes a lock (~1.2 µs, more
    in a worker's mmap); counting here costs ~0.15 µs, and flush() adds each sum once."""
    _denials: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "openstackoid_requests",
            "Requests answered by the proxy",
            ["service", "status_class"],
            registry=self.registry,
        )
        self.upstream = Counter(
            "openstackoid_upstream_requests",
            "Requests sent to clouds",
            ["cloud", "service", "status_class"],
            registry=self.registry,
        )
        self.identity_denials = Counter(
            "openstackoid_identity_denials",
            "Requests refused because no mapping rule let the caller act at the target",
            ["issuer", "target"],
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "openstackoid_upstream_seconds",
            "Time to the upstream response head",
            ["service"],
            registry=self.registry,
        )
        self.scope_fallbacks = Counter(
            "openstackoid_scope_memory_fallbacks",
            "Requests with a token and no X-Scope that got the default scope because the "
            "shared scope memory was down",
            registry=self.registry,
        )
        self.client_stalls = Counter(
            "openstackoid_client_stalls",
            "Clients dropped for not reading an answer within client_stall_timeout",
            registry=self.registry,
        )
        self.fanout_width = Histogram(
            "openstackoid_fanout_width",
            "Clouds addressed by one fanned-out request",
            buckets=(2, 5, 10, 50, 100, 500, 1000, 10000),
            registry=self.registry,
        )

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def count_request(self, service: str, status: int) -> None:
        key = (service, status)
        self._requests[key] = self._requests.get(key, 0) + 1

    def count_upstream(self, cloud: str, service: str, status: int | None) -> None:
        """One call to a cloud; status None when it failed before answering."""
        key = (cloud, service, status)
        self._upstream[key] = self._upstream.get(key, 0) + 1

    def count_denial(self, issuer: str, target: str) -> None:
        """A caller validated by `issuer` that no rule let act at `target`."""
        key = (issuer, target)
        self._denials[key] = self._denials.get(key, 0) + 1

    def flush(self) -> None:
        """Fold the counts kept since the last flush into the prometheus counters."""
        requests, self._requests = self._requests, {}
        for (service, status), count in requests.items():
            self._child(self.requests, service, status_class(status)).inc(count)
        upstream, self._upstream = self._upstream, {}
        for (cloud, service, answered), count in upstream.items():
            outcome = "error" if answered is None else status_class(answered)
            self._child(self.upstream, cloud, service, outcome).inc(count)
        denials, self._denials = self._denials, {}
        for (issuer, target), count in denials.items():
            self._child(self.identity_denials, issuer, target).inc(count)

    def observe_upstream(self, service: str, seconds: float) -> None:
        self._child(self.upstream_latency, service).observe(seconds)


def exposition(metrics: ProxyMetrics) -> bytes:
    """The text /metrics serves: this process's metrics, or every worker's summed when
    the proxy runs several workers."""
    metrics.flush()
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return bytes(generate_latest(metrics.registry))
    combined = CollectorRegistry()
    MultiProcessCollector(combined, path=directory)  # type: ignore[no-untyped-call]
    return bytes(generate_latest(combined))


def status_class(status: int) -> str:
    return f"{status // 100}xx"
