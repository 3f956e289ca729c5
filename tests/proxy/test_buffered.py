"""A cloud's whole answer: read through `send`, hop-by-hop headers dropped, a value."""

import dataclasses

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from openstackoid.proxy.buffered import Buffered, buffer, made
from openstackoid.proxy.upstream.client import UpstreamRequest
from openstackoid.proxy.upstream.connection import UpstreamResponse
from openstackoid.registry import Cloud

CLOUD = Cloud("cloud-2", "http://h/identity/v3")


async def test_an_answer_is_read_whole() -> None:
    async def send(request: UpstreamRequest) -> UpstreamResponse:
        headers = CIMultiDict({"Connection": "keep-alive", "Content-Type": "a/json"})
        return UpstreamResponse.complete(203, headers, b'{"x": 1}', root="http://h/image")

    empty: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
    request = UpstreamRequest(CLOUD, "image", None, "GET", "/v2", "", empty, None, None)
    answer = await buffer(send, request, timeout=1.0)
    assert answer == Buffered(
        "cloud-2",
        203,
        CIMultiDictProxy(CIMultiDict({"Content-Type": "a/json"})),
        b'{"x": 1}',
        "http://h/image",
    )


def test_answers_are_values() -> None:
    answer = made(200, CIMultiDict({"A": "1"}), b"{}")
    changed = answer.with_header("B", "2").with_body(b"[]")
    assert dict(answer.headers) == {"A": "1"} and answer.body == b"{}"
    assert dict(changed.headers) == {"A": "1", "B": "2"} and changed.body == b"[]"
    with pytest.raises(dataclasses.FrozenInstanceError):
        answer.body = b""  # type: ignore[misc]
