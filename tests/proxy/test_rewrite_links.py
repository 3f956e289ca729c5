"""A cloud's absolute links, in bodies and headers, point back at the proxy."""

from multidict import CIMultiDict

from openstackoid.proxy.rewrite_links import rewrite_body, rewrite_headers

ROOT = "http://10.0.0.5:8774/compute"
PREFIX = "http://proxy/compute"


def test_links_in_the_body() -> None:
    body = b'{"links": [{"href": "http://10.0.0.5:8774/compute/v2.1/servers/1"}]}'
    assert rewrite_body(body, ROOT, PREFIX) == body.replace(ROOT.encode(), PREFIX.encode())
    assert rewrite_body(b'{"href": "http://elsewhere/x"}', ROOT, PREFIX).count(b"elsewhere")


def test_location_headers_only_under_the_root() -> None:
    headers = CIMultiDict(
        {"Location": f"{ROOT}/v2.1/servers/1", "Content-Location": "http://elsewhere/x"}
    )
    rewrite_headers(headers, ROOT, PREFIX)
    assert headers["Location"] == f"{PREFIX}/v2.1/servers/1"
    assert headers["Content-Location"] == "http://elsewhere/x"
