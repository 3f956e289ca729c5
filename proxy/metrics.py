"""Prometheus metrics of the proxy, in a registry of its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass
class ProxyMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

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
        self.upstream_latency = Histogram(
            "openstackoid_upstream_seconds",
            "Time to the upstream response head",
            ["service"],
            registry=self.registry,
        )
        self.fanout_width = Histogram(
            "openstackoid_fanout_width",
            "Clouds addressed by one fanned-out request",
            buckets=(2, 5, 10, 50, 100, 500, 1000, 10000),
            registry=self.registry,
        )


def status_class(status: int) -> str:
    return f"{status // 100}xx"
