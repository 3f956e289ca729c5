"""Where a request for a cloud may go: its registered host (or allowed_hosts) for
discovered endpoints, never the proxy's own address."""

from __future__ import annotations

import pytest

from openstackoid.proxy.errors import LoopDetected, UpstreamUnavailable
from openstackoid.proxy.upstream.destinations import Destinations, allowed
from openstackoid.proxy.upstream.pool import split_url
from openstackoid.registry import Cloud

CLOUD = Cloud(
    "c",
    "http://10.0.0.5:5000/identity/v3",
    endpoints={"compute": "http://10.0.0.8:8774/v2.1"},
    allowed_hosts=frozenset({"10.0.0.6", "10.0.0.7:9292"}),
)


def _ok(url: str) -> bool:
    return allowed(CLOUD, split_url(url)[0])


def test_allowed_hosts_name_a_host_or_a_host_and_port() -> None:
    assert _ok("http://10.0.0.5:5000/image")  # the auth_url's own host and port
    assert _ok("http://10.0.0.8:8774/image")  # a declared endpoint's
    assert not _ok("http://10.0.0.5:9292/image")  # same host, another port: not by default
    assert _ok("http://10.0.0.6:1234/image") and _ok("http://10.0.0.7:9292/image")
    assert not _ok("http://10.0.0.7:9293/image") and not _ok("http://evil:5000/image")


def test_a_discovered_endpoint_off_the_host_is_refused_a_declared_one_is_not() -> None:
    where = Destinations()
    with pytest.raises(UpstreamUnavailable, match="allowed_hosts"):
        where.check(CLOUD, "http://10.0.0.9:9292/image", True, "image")
    where.check(CLOUD, "http://10.0.0.9:9292/image", False, "image")  # the operator's word


def test_the_proxy_knows_its_wildcard_address_on_loopback() -> None:
    own = Destinations({("0.0.0.0", 8080)})
    assert own.is_own(split_url("http://127.0.0.1:8080/image")[0])
    assert own.is_own(split_url("http://localhost:8080/image")[0])
    assert not own.is_own(split_url("http://127.0.0.1:8081/image")[0])
    with pytest.raises(LoopDetected):
        cloud = Cloud("c", "http://127.0.0.1:8080/v3")
        own.check(cloud, "http://127.0.0.1:8080/image", False, "image")
