"""Plans are reused per scope text and dropped when the registry changes."""

from __future__ import annotations

import pytest

from openstackoid.proxy.errors import BadRequest, CloudUnknown, FanOutWriteRejected
from openstackoid.proxy.routing import AllNode, CloudNode, RoutePlanner
from openstackoid.registry import Cloud, Registry
from openstackoid.scope_dsl import parse_scope


def _registry(*names: str) -> Registry:
    return Registry([Cloud(name, f"http://{name}.example:5000/v3") for name in names])


def test_a_repeated_scope_reuses_its_plan_whatever_the_path() -> None:
    planner = RoutePlanner(_registry("cloud-1", "cloud-2"), None)
    text = "{keystone: cloud-1; glance: cloud-2}"
    first = planner.decide("GET", "image", "/v2/images", parse_scope(text), text)
    second = planner.decide("GET", "image", "/v2/images/abc", parse_scope(text), text)
    assert second is first
    assert isinstance(second.node, CloudNode) and second.node.cloud.name == "cloud-2"
    assert second.issuer is not None and second.issuer.name == "cloud-1"


def test_a_registry_change_drops_the_plans() -> None:
    registry = _registry("cloud-1", "cloud-2")
    planner = RoutePlanner(registry, None)
    text = "{keystone: cloud-1; image: cloud-*}"
    before = planner.decide("GET", "image", "/v2/images", parse_scope(text), text)
    registry.upsert(Cloud("cloud-3", "http://cloud-3.example:5000/v3"))
    after = planner.decide("GET", "image", "/v2/images", parse_scope(text), text)
    assert isinstance(before.node, AllNode) and isinstance(after.node, AllNode)
    assert len(before.node.children) == 2 and len(after.node.children) == 3
    registry.remove("cloud-3")
    registry.remove("cloud-2")
    with pytest.raises(CloudUnknown):
        planner.decide("GET", "image", "/v2/images", parse_scope("cloud-2"), "cloud-2")


def test_a_reused_plan_still_refuses_dot_segments() -> None:
    planner = RoutePlanner(_registry("cloud-1"), None)
    planner.decide("GET", "image", "/v2/images", parse_scope("cloud-1"), "cloud-1")
    for path in ("/v2/../../identity/v3", "/v2/%2e%2e/x", "/.", "/v2/%252E/x"):
        with pytest.raises(BadRequest):
            planner.decide("GET", "image", path, parse_scope("cloud-1"), "cloud-1")
    assert planner.decide("GET", "image", "/v2.1/servers/a.b", parse_scope("cloud-1"), "cloud-1")


def test_the_method_is_part_of_the_plan() -> None:
    planner = RoutePlanner(_registry("cloud-1", "cloud-2"), None)
    text = "{keystone: cloud-1; image: cloud-1 & cloud-2}"
    planner.decide("GET", "image", "/v2/images", parse_scope(text), text)
    with pytest.raises(FanOutWriteRejected):
        planner.decide("POST", "image", "/v2/images", parse_scope(text), text)


def test_plans_stay_bounded() -> None:
    planner = RoutePlanner(_registry(*(f"cloud-{i}" for i in range(50))), None, max_plans=8)
    for i in range(50):
        text = f"cloud-{i}"
        planner.decide("GET", "image", "/v2/images", parse_scope(text), text)
    assert len(planner._plans) <= 8
