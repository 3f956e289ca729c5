"""How several clouds' answers merge: pure, no IO."""

import json
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from openstackoid.proxy.buffered import Buffered
from openstackoid.proxy.fanout import CLOUD_TAG, collected, merge


def answer(cloud: str, document: Any) -> Buffered:
    headers = CIMultiDictProxy(CIMultiDict({"Content-Length": "99", "Content-Type": "a/json"}))
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return Buffered(cloud, 200, headers, body, f"http://{cloud}/image")


def test_collections_are_concatenated_and_tagged() -> None:
    merged, failures = merge(
        [
            answer("a", {"images": [{"id": "1"}], "next": "/v2/images?marker=1"}),
            answer("b", {"images": [{"id": "2"}, "not-a-dict"]}),
        ]
    )
    document = json.loads(merged.body)
    assert document == {
        "images": [{"id": "1", CLOUD_TAG: "a"}, {"id": "2", CLOUD_TAG: "b"}, "not-a-dict"]
    }
    assert failures == [] and merged.cloud == "" and "Content-Length" not in merged.headers


def test_a_single_resource_comes_from_the_first_cloud() -> None:
    merged, _ = merge([answer("a", {"image": {"id": "1"}}), answer("b", {"image": {"id": "2"}})])
    assert merged.cloud == "a"


def test_clouds_that_sent_no_json_are_left_out_and_named() -> None:
    merged, failures = merge(
        [answer("a", b"<html>"), answer("b", {"images": [{"id": "2"}]}), answer("c", b"\xff")]
    )
    assert [i["id"] for i in json.loads(merged.body)["images"]] == ["2"]
    assert failures == ["a: an answer that is not JSON", "c: an answer that is not JSON"]
    alone, failures = merge([answer("a", b"<html>")])
    assert alone.body == b"<html>" and failures == []  # nothing to merge: relayed as is


def test_a_clouds_pages_collected_have_no_next_link() -> None:
    first = answer("a", {"images": [{"id": "1"}], "next": "/v2/images?marker=1"})
    whole = collected(first, json.loads(first.body), "images", [{"id": "1"}, {"id": "2"}])
    assert json.loads(whole.body) == {"images": [{"id": "1"}, {"id": "2"}]}
    assert whole.root == first.root and json.loads(first.body)["next"]  # first unchanged
