"""A token's catalog points at the proxy; scoped services the issuer lacks are added."""

from typing import Any

from openstackoid.proxy.rewrite_catalog import rewrite_catalog


def test_endpoints_point_at_the_proxy_and_missing_scoped_services_are_added() -> None:
    catalog: list[dict[str, Any]] = [
        {
            "type": "identity",
            "endpoints": [{"url": "http://h/identity/v3", "region_id": "R2"}],
        },
        {"type": "image", "endpoints": [{"url": "http://h/image", "region": "R2"}]},
    ]
    rewrite_catalog(catalog, "http://p", frozenset({"image", "compute", "*"}))
    urls = {s["type"]: [e["url"] for e in s["endpoints"]] for s in catalog}
    assert urls["identity"] == ["http://p/identity/v3"]
    assert urls["image"] == ["http://p/image"]
    # compute was scoped, not in the issuer's catalog: added with its version suffix,
    # in the issuer's region, for every interface.
    assert urls["compute"] == ["http://p/compute/v2.1"] * 3
    added = catalog[-1]["endpoints"]
    assert {e["interface"] for e in added} == {"public", "internal", "admin"}
    assert {e["region_id"] for e in added} == {"R2"}
    assert "*" not in urls
