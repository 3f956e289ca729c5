"""The default scope checked against the registry: named clouds only, each with a hint."""

from __future__ import annotations

from openstackoid.proxy.config import ProxyConfig
from openstackoid.proxy.default_scope_check import named_clouds, unknown_default_clouds
from openstackoid.registry import Cloud, Registry
from openstackoid.scope_dsl import parse_scope


def _registry(*names: str) -> Registry:
    return Registry([Cloud(name, f"http://127.0.0.1:1/{name}/v3") for name in names])


def test_named_clouds_walk_every_operand_and_skip_selectors() -> None:
    expr = parse_scope("{image: (a | b) & c | edge-* & @edge & region=eu & d}").expr_for("image")
    assert expr is not None
    assert list(named_clouds(expr)) == ["a", "b", "c", "d"]


def test_no_default_scope_nothing_to_check() -> None:
    assert unknown_default_clouds(ProxyConfig(), _registry()) == []


def test_every_named_cloud_registered_no_problem() -> None:
    config = ProxyConfig(default_scope="{keystone: cloud-1; glance: cloud-1 & cloud-2}")
    assert unknown_default_clouds(config, _registry("cloud-1", "cloud-2")) == []


def test_each_unknown_cloud_one_line_by_service_with_a_hint() -> None:
    config = ProxyConfig(default_scope="{keystone: cloud-1; glance: cloud-1 | clod-2; *: zzz}")
    assert unknown_default_clouds(config, _registry("cloud-1", "cloud-2")) == [
        "*: no cloud 'zzz'",  # nothing close: no hint
        "image: no cloud 'clod-2' (did you mean cloud-2, cloud-1?)",
    ]


def test_selectors_may_match_nothing_yet() -> None:
    config = ProxyConfig(default_scope="{*: edge-*; image: @edge | region=eu}")
    assert unknown_default_clouds(config, _registry()) == []
