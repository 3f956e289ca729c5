"""A cloud's endpoint split into its service root and version suffix."""

import pytest

from openstackoid.proxy.service_root import proxy_endpoint, service_root, split_endpoint


@pytest.mark.parametrize(
    ("url", "root", "suffix"),
    [
        ("http://h:1/identity/v3", "http://h:1/identity", "/v3"),
        ("http://h:1/compute/v2.1/", "http://h:1/compute", "/v2.1"),
        ("http://h:1/volume/v3/4f2e", "http://h:1/volume", "/v3/4f2e"),
        ("http://h:1/image", "http://h:1/image", ""),
        ("http://v2.example:9292", "http://v2.example:9292", ""),
    ],
)
def test_split(url: str, root: str, suffix: str) -> None:
    assert split_endpoint(url) == (root, suffix)
    assert service_root(url) == root


def test_the_proxy_serves_the_same_version_under_its_prefix() -> None:
    assert proxy_endpoint("http://p/", "compute", "http://h/nova/v2.1") == "http://p/compute/v2.1"
