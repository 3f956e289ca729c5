"""Issue 15, amplification: one small request cannot make the proxy call a cloud twice, call
more clouds than its cap, call any before the caller's token is checked, or spend unbounded
CPU or memory on a scope."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from openstackoid.proxy.errors import FanOutTooWide
from openstackoid.proxy.routing import RoutePlanner, describe, route
from openstackoid.registry import Cloud, Registry
from openstackoid.scope_dsl import MAX_SCOPE_DEPTH, MAX_SCOPE_TERMS, parse_scope
from tests.federation import Federation, FederationFactory


async def _get(
    federation: Federation, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, object], str]:
    async with federation.session.get(f"{federation.url}{path}", headers=headers) as resp:
        text = await resp.text()
        assert resp.content_type == "application/json", text[:300]
        return resp.status, json.loads(text), text


@pytest.mark.parametrize(
    ("scope", "reason"),
    [
        ("{glance: " + "(a|(" * 500 + "b" + "))" * 500 + "}", "nest more than"),
        ("{glance: " + "(" * (MAX_SCOPE_DEPTH + 1) + "cloud-1" + ")" * 17 + "}", "nest more"),
        ("{glance: " + "&".join(["cloud-*"] * 510) + "}", f"more than {MAX_SCOPE_TERMS}"),
        ("{glance: " + "&".join(["*"] * 2000) + "}", f"more than {MAX_SCOPE_TERMS} clouds"),
    ],
    ids=["alternating-1000", "one-too-deep", "510-globs", "2000-stars"],
)
async def test_a_scope_past_the_limits_is_a_400_with_the_reason(
    federation: Federation, scope: str, reason: str
) -> None:
    """1,000 alternating nesting levels were a RecursionError and a plain-text 500."""
    federation.bed.clear_requests()
    status, body, text = await _get(federation, "/image/v2/images", {"X-Scope": scope})
    assert status == 400, text[:300]
    assert reason in str(body["error"]["message"])  # type: ignore[index]
    assert not any(federation.bed.requests(c.name) for c in federation.bed.clouds)


async def test_each_cloud_is_called_once_however_often_the_scope_names_it(
    federation: Federation,
) -> None:
    headers = await federation.scoped("{keystone: cloud-1; glance: cloud-1}")
    federation.bed.clear_requests()
    scope = "{keystone: cloud-1; glance: cloud-* & cloud-1 & (cloud-2 & region=eu) & @edge}"
    status, body, text = await _get(federation, "/image/v2/images", {**headers, "X-Scope": scope})
    assert status == 200, text[:300]
    for cloud in federation.bed.clouds:
        listings = [r for r in federation.bed.requests(cloud.name) if r.path == "/image/v2/images"]
        assert len(listings) == 1, (cloud.name, listings)


async def test_a_fan_out_wider_than_the_cap_is_a_400_before_any_call(
    make_federation: FederationFactory,
) -> None:
    federation = await make_federation(clouds=3, max_fanout=2)
    headers = await federation.scoped("{keystone: cloud-1; glance: cloud-1}")
    federation.bed.clear_requests()
    for scope in ("{keystone: cloud-1; glance: cloud-*}", "{glance: cloud-1 & cloud-2 & cloud-3}"):
        status, body, text = await _get(
            federation, "/image/v2/images", {**headers, "X-Scope": scope}
        )
        assert status == 400, text[:300]
        assert "3 clouds" in text and "max_fanout" in text and "2" in text
    assert not any(federation.bed.requests(c.name) for c in federation.bed.clouds)
    # Within the cap, the same fan-out is served.
    scope = "{keystone: cloud-1; glance: cloud-1 & cloud-2}"
    status, _, text = await _get(federation, "/image/v2/images", {**headers, "X-Scope": scope})
    assert status == 200, text[:300]


async def test_the_default_cap_lets_1000_clouds_through() -> None:
    from openstackoid.proxy import ProxyConfig

    assert ProxyConfig().max_fanout >= 1000


async def test_no_cloud_is_called_before_the_callers_token_is_checked(
    federation: Federation,
) -> None:
    federation.bed.clear_requests()
    scope = "{keystone: cloud-1; glance: cloud-* & cloud-1}"
    headers = {"X-Scope": scope, "X-Auth-Token": "not-a-token"}
    status, body, text = await _get(federation, "/image/v2/images", headers)
    assert status == 401, text[:300]
    seen = {c.name: federation.bed.requests(c.name) for c in federation.bed.clouds}
    assert [(r.method, r.path) for r in seen.pop("cloud-1")] == [
        ("GET", "/identity/v3/auth/tokens")  # checked once, at its issuer
    ]
    assert not any(seen.values()), seen


async def test_the_explain_endpoint_is_bounded_like_requests(
    make_federation: FederationFactory,
) -> None:
    federation = await make_federation(clouds=3, max_fanout=2)
    status, _, text = await _get(
        federation, "/_openstackoid/scope", {"X-Scope": "{keystone: cloud-1; glance: cloud-*}"}
    )
    assert status == 400 and "max_fanout" in text, text[:300]
    scope = "{keystone: cloud-1; glance: cloud-1 & cloud-2 & cloud-2 & (cloud-1 | cloud-2)}"
    status, body, text = await _get(federation, "/_openstackoid/scope", {"X-Scope": scope})
    assert status == 200, text[:300]
    services = body["services"]
    assert isinstance(services, dict)
    assert services["image"]["plan"] == {"every": ["cloud-1", "cloud-2"]}


def test_kept_plans_are_bounded_by_the_clouds_they_name() -> None:
    """Each plan of `cloud-*` over 1,000 clouds holds 1,000 nodes: 16,384 of them were
    ~1 GB. A budget of clouds over all kept plans bounds them whatever the scopes."""
    registry = Registry([Cloud(f"cloud-{i}", f"http://127.0.0.1:1/{i}") for i in range(1000)])
    planner = RoutePlanner(registry, None, max_plan_clouds=20_000)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(200):
        text = f"{{image: cloud-*; compute: c{n}}}"
        planner.decide("GET", "image", "/v2/images", parse_scope(text), text)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 20_000 * 200  # ~200 bytes a kept cloud node, with room: 200 plans = 13 MB


def test_a_plan_names_each_cloud_once_and_counts_its_width() -> None:
    clouds = [Cloud(f"cloud-{i}", f"http://h:1/{i}", labels={"region": "eu"}) for i in (1, 2, 3, 4)]
    registry = Registry(clouds)

    def plan(expr: str) -> object:
        scope = parse_scope("{image: " + expr + "}")
        return describe(route("GET", "image", "/v2/images", scope, registry).node)

    every = ["cloud-1", "cloud-2", "cloud-3", "cloud-4"]
    assert plan("cloud-* & cloud-1 & (cloud-2 & region=eu)") == {"every": every}
    assert plan("cloud-1 & cloud-2 & (cloud-1 | cloud-2)") == {"every": every[:2]}
    assert plan("cloud-1 & (cloud-3 | cloud-1)") == {
        "every": ["cloud-1", {"first_of": ["cloud-3", "cloud-1"]}]
    }
    assert plan("cloud-2 | cloud-2 | cloud-1") == {"first_of": ["cloud-2", "cloud-1"]}
    with pytest.raises(FanOutTooWide, match="addresses 4 clouds, more than .* of 3"):
        scope = parse_scope("{image: cloud-1 & (cloud-2 | cloud-3 | cloud-4)}")
        route("GET", "image", "/v2/images", scope, registry, max_fanout=3)
