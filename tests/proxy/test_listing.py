"""The shape of list pages in each service's link dialect."""

from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from openstackoid.proxy.buffered import Buffered
from openstackoid.proxy.listing import (
    PARTIAL_FAILURE,
    drop_links,
    has_more,
    json_object,
    link_next,
    list_key,
    next_href,
    refusal,
)
from openstackoid.proxy.services import Links


def test_the_list_key_is_the_one_list_beside_links() -> None:
    assert list_key({"servers": [], "servers_links": [], "next": "x"}) == "servers"
    assert list_key({"a": [], "b": []}) is None
    assert list_key({"image": {}}) is None
    assert list_key([]) is None


@pytest.mark.parametrize(
    ("document", "dialect", "href"),
    [
        ({"images": [], "next": "/v2/images?marker=1"}, Links.RELATIVE_NEXT, "/v2/images?marker=1"),
        (
            {"nodes": [], "next": "http://h/v1/nodes?marker=1"},
            Links.ABSOLUTE_NEXT,
            "http://h/v1/nodes?marker=1",
        ),
        (
            {"servers": [], "servers_links": [{"rel": "next", "href": "http://h/s?marker=1"}]},
            Links.COLLECTION_LINKS,
            "http://h/s?marker=1",
        ),
        ({"servers": [], "next": "/elsewhere"}, Links.COLLECTION_LINKS, None),
        ({"images": [], "next": None}, Links.RELATIVE_NEXT, None),
    ],
)
def test_next_links_are_read_in_the_services_dialect(
    document: dict[str, Any], dialect: Links, href: str | None
) -> None:
    assert next_href(document, dialect) == href
    assert has_more(document, dialect) is (href is not None)


@pytest.mark.parametrize("dialect", list(Links))
def test_a_page_made_by_the_proxy_links_its_next_as_the_service_would(dialect: Links) -> None:
    document: dict[str, Any] = {"items": []}
    link_next(document, "items", dialect, "/v2/items?marker=m", "http://p/svc")
    expected = (
        "/v2/items?marker=m" if dialect is Links.RELATIVE_NEXT else "http://p/svc/v2/items?marker=m"
    )
    assert next_href(document, dialect) == expected
    drop_links(document)
    assert document == {"items": []}


def test_json_object_is_none_for_anything_else() -> None:
    assert json_object(b'{"a": 1}') == {"a": 1}
    assert json_object(b"[1]") is None and json_object(b"<html>") is None


def test_a_refusal_prefers_404_then_the_highest_status() -> None:
    empty: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
    answers = [Buffered(c, s, empty, b"") for c, s in (("a", 401), ("b", 403), ("c", 404))]
    assert refusal(answers, []).cloud == "c"
    chosen = refusal(answers[:2], ["x: refused"])
    assert chosen.cloud == "b" and chosen.headers[PARTIAL_FAILURE] == "x: refused"
