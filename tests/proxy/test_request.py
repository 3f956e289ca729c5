"""The request value: built once, never changed, its query parsed with every value."""

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from openstackoid.proxy.request import ProxyRequest, parse_query
from openstackoid.proxy.routing import CloudNode, RouteDecision
from openstackoid.registry import Cloud

ISSUER = Cloud("cloud-1", "http://h1/identity/v3")
TARGET = Cloud("cloud-2", "http://h2/identity/v3", endpoints={"image": "http://h2/image"})


def _request(query: str) -> ProxyRequest:
    headers = CIMultiDictProxy(CIMultiDict({"X-Auth-Token": "t"}))
    decision = RouteDecision("image", CloudNode(TARGET), ISSUER)
    return ProxyRequest(
        "GET", "/v2/images", query, headers, decision, None, None, "t", "http://p", None
    )


def test_repeated_and_blank_parameters_survive() -> None:
    params = _request("status=active&status=queued&name=&limit=2").params
    assert params.getall("status") == ["active", "queued"]
    assert params["name"] == "" and params["limit"] == "2"
    assert parse_query("a=%2F") == {"a": "/"}


def test_aimed_at_a_cloud_it_keeps_what_the_client_sent() -> None:
    request = _request("status=active&status=queued")
    aimed = request.to(TARGET)
    assert (aimed.cloud, aimed.issuer, aimed.service_type) == (TARGET, ISSUER, "image")
    assert (aimed.method, aimed.path, aimed.query, aimed.url) == (
        "GET",
        "/v2/images",
        "status=active&status=queued",
        None,
    )
    assert aimed.headers is request.headers and aimed.token == "t"
    assert request.to(TARGET, query="marker=x").query == "marker=x"
    assert request.proxy_prefix == "http://p/image"
    assert request.service.type == "image"


def test_it_cannot_be_changed() -> None:
    request = _request("")
    with pytest.raises(AttributeError):
        request.query = "x"  # type: ignore[misc]
