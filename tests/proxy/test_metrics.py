"""Counts are kept in plain dicts on the hot path and folded into prometheus by flush()."""

from __future__ import annotations

from openstackoid.proxy.metrics import ProxyMetrics, exposition


def _value(metrics: ProxyMetrics, name: str, **labels: str) -> float | None:
    value = metrics.registry.get_sample_value(name, labels)
    return None if value is None else float(value)


def test_counts_reach_prometheus_when_flushed() -> None:
    metrics = ProxyMetrics()
    for status in (200, 204, 404, 503):
        metrics.count_request("image", status)
    metrics.count_upstream("cloud-1", "image", 200)
    metrics.count_upstream("cloud-1", "image", None)
    metrics.count_upstream("cloud-1", "image", None)
    assert (
        _value(metrics, "openstackoid_requests_total", service="image", status_class="2xx") is None
    )
    metrics.flush()
    metrics.count_request("image", 201)  # after the flush: waits for the next one
    assert _value(metrics, "openstackoid_requests_total", service="image", status_class="2xx") == 2
    assert _value(metrics, "openstackoid_requests_total", service="image", status_class="4xx") == 1
    upstream = "openstackoid_upstream_requests_total"
    labels = {"cloud": "cloud-1", "service": "image"}
    assert _value(metrics, upstream, **labels, status_class="error") == 2
    assert _value(metrics, upstream, **labels, status_class="2xx") == 1
    metrics.flush()
    assert _value(metrics, "openstackoid_requests_total", service="image", status_class="2xx") == 3


def test_a_scrape_sees_every_count_so_far() -> None:
    metrics = ProxyMetrics()
    metrics.count_request("compute", 500)
    text = exposition(metrics).decode()
    assert 'openstackoid_requests_total{service="compute",status_class="5xx"} 1.0' in text
