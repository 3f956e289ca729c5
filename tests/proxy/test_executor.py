"""The plan executor driven by a fake `send` (as httpx's MockTransport drives a client):
no server, no socket. Each fake cloud answers from the UpstreamRequest it is given."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from openstackoid.proxy.buffered import Buffered
from openstackoid.proxy.errors import UpstreamUnavailable
from openstackoid.proxy.executor import Executor, Limits
from openstackoid.proxy.fanout import CLOUD_TAG, PARTIAL_FAILURE
from openstackoid.proxy.listing import refusal
from openstackoid.proxy.request import ProxyRequest
from openstackoid.proxy.routing import AllNode, AnyNode, CloudNode, Node, RouteDecision
from openstackoid.proxy.upstream.client import UpstreamRequest
from openstackoid.proxy.upstream.connection import UpstreamResponse
from openstackoid.registry import Cloud

Answer = Callable[[UpstreamRequest], UpstreamResponse]


def cloud(name: str) -> Cloud:
    return Cloud(name, f"http://{name}/identity/v3", endpoints={"image": f"http://{name}/image"})


def json_answer(document: Any, status: int = 200, root: str = "") -> UpstreamResponse:
    headers = CIMultiDict({"Content-Type": "application/json"})
    return UpstreamResponse.complete(status, headers, json.dumps(document).encode(), root)


class FakeClouds:
    """send(): each cloud's answer function; every request is recorded."""

    def __init__(self, answers: dict[str, Answer]) -> None:
        self.answers = answers
        self.sent: list[UpstreamRequest] = []

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        self.sent.append(request)
        return self.answers[request.cloud.name](request)


def request(node: Node, query: str = "", method: str = "GET") -> ProxyRequest:
    decision = RouteDecision("image", node, None)
    headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
    return ProxyRequest(
        method, "/v2/images", query, headers, decision, None, None, "t", "http://proxy", None
    )


def executor(clouds: FakeClouds) -> Executor:
    return Executor(clouds.send, Limits(concurrency=4, read_timeout=5.0))


def images(*ids: str, **extra: Any) -> dict[str, Any]:
    return {"images": [{"id": i} for i in ids], **extra}


def every(*names: str) -> AllNode:
    return AllNode(tuple(CloudNode(cloud(n)) for n in names))


async def test_a_merge_tags_items_and_follows_each_clouds_own_next_links() -> None:
    def a(req: UpstreamRequest) -> UpstreamResponse:
        if req.url is None:  # glance: a relative `next`, under the endpoint
            return json_answer(images("a1", next="/v2/images?marker=a1"), root="http://a/image")
        assert req.url == "http://a/image/v2/images?marker=a1"
        return json_answer(images("a2"), root="http://a/image")

    def b(req: UpstreamRequest) -> UpstreamResponse:
        return json_answer(images("b1"), root="http://b/image")

    clouds = FakeClouds({"a": a, "b": b})
    answer = await executor(clouds).execute(request(every("a", "b")), every("a", "b"))
    listed = json.loads(answer.body)
    assert [(i["id"], i[CLOUD_TAG]) for i in listed["images"]] == [
        ("a1", "a"),
        ("a2", "a"),
        ("b1", "b"),
    ]
    assert "next" not in listed
    assert len(clouds.sent) == 3


async def test_a_non_json_cloud_stays_named_beside_a_failed_one() -> None:
    """Both reasons reach the client: the note about non-JSON used to be overwritten."""

    def garbled(req: UpstreamRequest) -> UpstreamResponse:
        headers = CIMultiDict({"Content-Type": "application/json"})
        return UpstreamResponse.complete(200, headers, b"<html>oops")

    def down(req: UpstreamRequest) -> UpstreamResponse:
        raise UpstreamUnavailable("cloud 'c' is unreachable: refused")

    clouds = FakeClouds({"a": lambda r: json_answer(images("a1")), "b": garbled, "c": down})
    node = every("a", "b", "c")
    answer = await executor(clouds).execute(request(node), node)
    assert answer.status == 200
    failure = answer.headers[PARTIAL_FAILURE]
    assert "b: an answer that is not JSON" in failure
    assert "cloud 'c' is unreachable" in failure
    assert [i["id"] for i in json.loads(answer.body)["images"]] == ["a1"]


async def test_failover_answers_from_the_first_cloud_below_500_and_names_the_rest() -> None:
    clouds = FakeClouds(
        {
            "a": lambda r: json_answer({"error": "x"}, status=503),
            "b": lambda r: json_answer(images("b1")),
            "c": lambda r: pytest.fail("c is not asked once b answered"),
        }
    )
    node = AnyNode(tuple(CloudNode(cloud(n)) for n in "abc"))
    answer = await executor(clouds).execute(request(node), node)
    assert answer.cloud == "b" and json.loads(answer.body) == images("b1")
    assert answer.headers[PARTIAL_FAILURE] == "a: status 503"


async def test_a_paged_listing_keeps_every_value_of_a_repeated_parameter() -> None:
    """`?status=active&status=queued` reaches each cloud whole, and the next link too."""
    seen: list[list[tuple[str, str]]] = []

    def listing(req: UpstreamRequest) -> UpstreamResponse:
        seen.append(parse_qsl(req.query))
        return json_answer(images(f"{req.cloud.name}1", f"{req.cloud.name}2"))

    clouds = FakeClouds({"a": listing, "b": listing})
    node = every("a", "b")
    answer = await executor(clouds).execute(
        request(node, "limit=2&status=active&status=queued"), node
    )
    for query in seen:
        assert [v for k, v in query if k == "status"] == ["active", "queued"]
    page = json.loads(answer.body)
    assert [i["id"] for i in page["images"]] == ["a1", "a2"]
    next_query = parse_qsl(page["next"].partition("?")[2])
    assert [v for k, v in next_query if k == "status"] == ["active", "queued"]


async def test_a_relayed_cloud_is_sent_the_request_as_the_client_made_it() -> None:
    clouds = FakeClouds({"a": lambda r: json_answer(images("a1"))})
    node = CloudNode(cloud("a"))
    response = await executor(clouds).relay_one(request(node, "status=a&status=b"), node.cloud)
    assert response.status == 200
    (sent,) = clouds.sent
    assert (sent.method, sent.path, sent.query, sent.url) == (
        "GET",
        "/v2/images",
        "status=a&status=b",
        None,
    )


def test_answers_are_values_a_header_makes_a_new_one() -> None:
    headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
    first = Buffered("a", 404, headers, b"{}")
    second = Buffered("b", 401, headers, b"{}")
    chosen = refusal([first, second], ["a: status 404", "b: status 401"])
    assert chosen.cloud == "a" and chosen.headers[PARTIAL_FAILURE].startswith("a: status 404")
    assert PARTIAL_FAILURE not in first.headers  # the cloud's answer is unchanged
