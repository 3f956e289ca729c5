"""The one mapping of other packages' errors to the proxy's, and OpenStack's error body."""

from __future__ import annotations

import json

import aiohttp
import pytest

from openstackoid.proxy import errors
from openstackoid.proxy.errors import (
    MethodNotAllowed,
    ProxyError,
    RequestBodyIncomplete,
    Unauthorized,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_response,
    map_upstream_errors,
)
from openstackoid.proxy.upstream.errors import BrokenUpstream, RequestBodyFailed, StaleConnection


@pytest.mark.parametrize(
    ("raised", "expected", "status"),
    [
        (TimeoutError(), UpstreamTimeout, 504),
        (ConnectionRefusedError(111, "refused"), UpstreamUnavailable, 502),
        (BrokenUpstream("closed mid-response"), UpstreamUnavailable, 502),
        (StaleConnection("closed while idle"), UpstreamUnavailable, 502),
        (aiohttp.ServerDisconnectedError(), UpstreamUnavailable, 502),
        (RequestBodyFailed("the client left"), RequestBodyIncomplete, 400),
    ],
)
def test_client_errors_become_proxy_errors_naming_the_cloud(
    raised: BaseException, expected: type[ProxyError], status: int
) -> None:
    with pytest.raises(expected) as caught, map_upstream_errors("cloud-7"):
        raise raised
    assert caught.value.status == status
    assert caught.value.__cause__ is raised
    if status >= 500:
        assert "cloud-7" in caught.value.message


def test_other_errors_pass_through() -> None:
    with pytest.raises(KeyError), map_upstream_errors("cloud-7"):
        raise KeyError("a bug is not a cloud's failure")


def test_the_body_is_openstacks_error_shape() -> None:
    response = error_response(Unauthorized("authenticate again"), "req-1")
    assert response.status == 401
    assert response.headers["X-Openstack-Request-Id"] == "req-1"
    assert response.body is not None
    body = json.loads(bytes(response.body))  # type: ignore[arg-type]
    assert body == {
        "error": {"code": 401, "title": "Unauthorized", "message": "authenticate again"}
    }


# What each status answers as its title, as OpenStack's services (webob) word it.
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    508: "Loop Detected",
}


TREE = [k for k in vars(errors).values() if isinstance(k, type) and issubclass(k, ProxyError)]


@pytest.mark.parametrize("kind", TREE, ids=lambda kind: kind.__name__)
def test_every_error_answers_its_status_and_title(kind: type[ProxyError]) -> None:
    error = MethodNotAllowed("no", "GET") if kind is MethodNotAllowed else kind("no")
    response = error_response(error, "req-1")
    assert response.body is not None
    body = json.loads(bytes(response.body))  # type: ignore[arg-type]
    assert (response.status, body["error"]["title"]) == (kind.status, TITLES[kind.status])
