"""The health value components report, and what /healthz and /metrics make of it."""

from __future__ import annotations

import time

from openstackoid.registry.health import ComponentHealth, health_exposition, health_report

NOW = 1_800_000_000.0


def test_a_live_component_reports_ok_and_its_sync_age() -> None:
    live = ComponentHealth("live", NOW - 600, NOW - 2)
    report = health_report({"registry": lambda: live}, now=NOW)
    assert report.status == "ok" and report.reasons == ()
    registry = report.components["registry"]
    assert registry["summary"] == "live" and registry["sync_age_seconds"] == 2.0
    assert registry["last_sync"] == "2027-01-15T07:59:58Z"


def test_any_component_not_live_makes_the_report_degraded_with_its_reason() -> None:
    stale = ComponentHealth("stale", NOW - 30, NOW - 31, "lost the change feed")
    live = ComponentHealth("live", NOW - 600, NOW)
    report = health_report({"registry": lambda: stale, "scope_memory": lambda: live}, now=NOW)
    assert report.status == "degraded"
    assert report.reasons == ("registry stale since 2027-01-15T07:59:30Z: lost the change feed",)
    assert report.components["registry"]["reason"] == "lost the change feed"
    assert report.components["registry"]["sync_age_seconds"] == 31.0
    waiting = ComponentHealth("waiting", NOW, None, "no snapshot")
    assert (
        health_report({"registry": lambda: waiting}, now=NOW).components["registry"][
            "sync_age_seconds"
        ]
        is None
    )


def test_metrics_expose_one_state_per_component_and_the_sync_age() -> None:
    now = time.time()  # a scrape reads the clock
    snapshot = ComponentHealth("snapshot", now, now - 3600, "cut off")
    text = health_exposition({"registry": lambda: snapshot}).decode()
    assert 'openstackoid_component_state{component="registry",state="snapshot"} 1.0' in text
    assert 'openstackoid_component_state{component="registry",state="live"} 0.0' in text
    age = [line for line in text.splitlines() if line.startswith("openstackoid_component_sync")]
    assert len(age) == 1 and float(age[0].split()[-1]) >= 3600
    assert health_exposition({}) == b""
