"""A `|` body too big to hold: members passed over only while none of it was sent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.errors import CircuitOpen, UpstreamUnavailable
from proxy.request import ProxyRequest
from proxy.routing import AllNode, AnyNode, CloudNode, RouteDecision
from proxy.streamed_failover import StreamedBody, members, relay_first
from proxy.upstream.client import UpstreamRequest
from proxy.upstream.connection import UpstreamResponse
from registry import Cloud

A, B, C = (
    Cloud(n, f"http://{n}/identity/v3", endpoints={"image": f"http://{n}/image"}) for n in "abc"
)


async def _pieces() -> AsyncIterator[bytes]:
    for piece in (b"one", b"two"):
        yield piece


def _upload(body: StreamedBody) -> ProxyRequest:
    node = AnyNode((CloudNode(A), CloudNode(B)))
    headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
    decision = RouteDecision("image", node, None)
    return ProxyRequest(
        "PUT", "/v2/images/i/file", "", headers, decision, None, None, "t", "", body
    )


def test_only_a_failover_between_single_clouds_streams() -> None:
    assert members(AnyNode((CloudNode(A), AnyNode((CloudNode(B), CloudNode(C)))))) == (A, B, C)
    assert members(AnyNode((CloudNode(A), AllNode((CloudNode(B), CloudNode(C)))))) is None


async def test_a_member_that_took_part_of_the_body_is_not_retried_on_the_next() -> None:
    body = StreamedBody(b"zero", _pieces())
    asked: list[str] = []

    async def send(request: UpstreamRequest) -> UpstreamResponse:
        asked.append(request.cloud.name)
        assert isinstance(request.body, StreamedBody)
        assert await anext(request.body) == b"zero"  # the held part first, then the rest
        raise UpstreamUnavailable(f"cloud {request.cloud.name!r} failed: reset")

    with pytest.raises(UpstreamUnavailable, match="no other member can be tried"):
        await relay_first(None, send, None, _upload(body), (A, B))  # type: ignore[arg-type]
    assert asked == ["a"]


async def test_members_failing_before_the_body_are_passed_over() -> None:
    body = StreamedBody(b"", _pieces())

    async def send(request: UpstreamRequest) -> UpstreamResponse:
        raise CircuitOpen(f"cloud {request.cloud.name!r} is failing; its circuit is open")

    with pytest.raises(UpstreamUnavailable, match="'a' is failing.*'b' is failing"):
        await relay_first(None, send, None, _upload(body), (A, B))  # type: ignore[arg-type]
    assert not body.started
    assert [piece async for piece in body] == [b"one", b"two"]
