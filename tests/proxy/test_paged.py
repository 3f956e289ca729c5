"""Paging across any tree of `&` and `|`: the fetch and hand-out of proxy/paged.py against
clouds simulated by a page function (a property test), then through the proxy over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openstackoid.proxy.fanout import CLOUD_TAG, PARTIAL_FAILURE
from openstackoid.proxy.listing import has_more, list_key
from openstackoid.proxy.paged import GetPage, node_key, step
from openstackoid.proxy.pagination import (
    DONE,
    Failed,
    Fetched,
    Page,
    Position,
    decode_marker,
    encode_marker,
)
from openstackoid.proxy.routing import AllNode, AnyNode, CloudNode, Node
from openstackoid.proxy.services import service as service_entry
from openstackoid.registry import Cloud
from openstackoid.testbed import Faults, paging
from openstackoid.testbed.model import stable_id
from tests.federation import Federation, FederationFactory

# -- the algorithm, against simulated clouds ------------------------------------------------

Shape = Any
"""None for a cloud, ("&" | "|", [shapes]) for a node."""

shapes = st.recursive(
    st.none(),
    lambda inner: st.tuples(st.sampled_from("&|"), st.lists(inner, min_size=2, max_size=3)),
    max_leaves=7,
)


def build(shape: Shape, names: Iterator[str]) -> Node:
    if shape is None:
        return CloudNode(Cloud(next(names), "http://unused"))
    kind, children = shape
    nodes = tuple(build(child, names) for child in children)
    return AllNode(nodes) if kind == "&" else AnyNode(nodes)


def clouds_of(node: Node) -> list[str]:
    if isinstance(node, CloudNode):
        return [node.cloud.name]
    return [name for child in node.children for name in clouds_of(child)]


SERVICES = ("image", "compute", "network")


def simulated(
    catalog: dict[str, list[str]], down: set[str], limit: int, service: str = "image"
) -> GetPage:
    """A cloud's paging as the real `service` does it (testbed.paging): the items after the
    marker, `limit` at a time, a next link on every full page in that API's own format,
    read back by the proxy's own link parser."""

    async def get_page(cloud: Cloud, marker: str | None) -> Fetched:
        if cloud.name in down:
            return Failed(f"{cloud.name}: connection refused")
        ids = [{"id": i} for i in catalog[cloud.name]]
        query = {"limit": str(limit), **({"marker": marker} if marker else {})}
        rest = paging.after_marker(ids, marker)
        assert rest is not None, "the proxy sent a marker the cloud never gave"
        page = list(rest[:limit])
        document: dict[str, Any]
        if service == "image":
            document = {"images": page, **paging.glance_links("/v2/images", query, page, limit)}
        elif service == "compute":
            links = paging.nova_links("http://c/compute/v2.1/servers", query, page, limit, "id")
            document = {"servers": page, **({"servers_links": links} if links else {})}
        else:
            page, _ = paging.neutron_page(ids, query, limit)
            links = paging.neutron_links("http://c/network/v2.0/networks", query, page, limit)
            document = {"networks": list(page), "networks_links": links}
        key = list_key(document)
        assert key is not None
        more = has_more(document, service_entry(service).links)
        return Page(cloud.name, document, list(document[key]), more)

    return get_page


def could_be_empty(node: Node, catalog: dict[str, list[str]]) -> bool:
    if isinstance(node, CloudNode):
        return not catalog[node.cloud.name]
    if isinstance(node, AllNode):
        return all(could_be_empty(c, catalog) for c in node.children)
    return any(could_be_empty(c, catalog) for c in node.children)


def listed_whole(node: Node, catalog: dict[str, list[str]], seen: set[str]) -> bool:
    """Every `&` branch listed whole; every `|` group listed whole on one member only."""
    if isinstance(node, CloudNode):
        return set(catalog[node.cloud.name]) <= seen
    if isinstance(node, AllNode):
        return all(listed_whole(c, catalog, seen) for c in node.children)
    used = [c for c in node.children if any(i in seen for n in clouds_of(c) for i in catalog[n])]
    if not used:
        return any(could_be_empty(c, catalog) for c in node.children)
    return len(used) == 1 and listed_whole(used[0], catalog, seen)


@pytest.mark.parametrize("service", SERVICES)
@settings(max_examples=150, deadline=None)
@given(shape=shapes, data=st.data())
def test_any_tree_pages_whole_without_repeats_through_outages(
    service: str, shape: Shape, data: Any
) -> None:
    """Random trees, item counts, limits and clouds going down and back between pages, with
    Glance's, Nova's and Neutron's paging: no page exceeds the limit, no item comes twice,
    and once every cloud is back the listing ends with every branch whole and every group on
    a single member."""
    node = build(shape, (f"c{n}" for n in range(1, 100)))
    names = clouds_of(node)
    catalog = {n: [f"{n}-{i}" for i in range(data.draw(st.integers(0, 5)))] for n in names}
    limit = data.draw(st.integers(1, 4))
    outages = data.draw(st.lists(st.sets(st.sampled_from(names)), max_size=6))

    async def listing() -> list[str]:
        seen: list[str] = []
        position: Position = None
        for page_number in range(200):
            down = outages[page_number] if page_number < len(outages) else set()
            get_page = simulated(catalog, down, limit, service)
            result = await step(node, position, limit, get_page, 8)
            taken = [item["id"] for _, item in result.taken.items]
            assert len(taken) <= limit
            if not taken and result.taken.failures and result.after != DONE:
                continue  # the proxy answers 502: the client retries the same marker
            assert taken or result.after == DONE or result.taken.failures, "no progress"
            seen += taken
            if result.after == DONE:
                return seen
            position = decode_marker(encode_marker(result.after))  # through the URL
        raise AssertionError("the listing never ended")

    seen = asyncio.run(listing())
    assert len(seen) == len(set(seen)), "an item came twice"
    assert listed_whole(node, catalog, set(seen)), seen


def test_keys_name_nested_nodes_and_splice_like_operators() -> None:
    a, b, c = (CloudNode(Cloud(n, "http://unused")) for n in ("a", "b", "c"))
    assert node_key(AllNode((AnyNode((a, b)), c))) == "(a|b)&c"
    assert node_key(AnyNode((AllNode((a, b)), c))) == "(a&b)|c"
    assert node_key(AllNode((AllNode((a, b)), c))) == "a&b&c"  # a selector inside `&`


# -- through the proxy ------------------------------------------------------------------------


async def _upload(fed: Federation, clouds: int) -> dict[str, set[str]]:
    """Each cloud: its cirros plus two more images. Returns each cloud's image ids."""
    return await fed.add_images(await fed.scoped("{keystone: cloud-1; glance: cloud-1}"), clouds)


def assert_pages(sizes: list[int], total: int, limit: int) -> None:
    """Every page full but the last, which holds the rest; when the rest is nothing, the
    last page is either the last full one or an empty one after it (as Glance's)."""
    assert sum(sizes) == total
    assert all(size == limit for size in sizes[:-1]), sizes
    if total % limit:
        assert sizes[-1] == total % limit, sizes
    else:
        assert sizes[-1] in (0, limit) and len(sizes) in (total // limit, total // limit + 1)


async def _list(
    fed: Federation, glance: str, limit: int, keystone: str = "cloud-1"
) -> tuple[list[dict[str, Any]], list[int]]:
    """Every page of `GET /image/v2/images?limit=N` under the scope: (items, page sizes)."""
    headers = await fed.scoped(f"{{keystone: {keystone}; glance: {glance}}}")
    items: list[dict[str, Any]] = []
    sizes: list[int] = []
    path = f"/image/v2/images?limit={limit}"
    for _ in range(20):
        async with fed.session.get(fed.url + path, headers=headers) as resp:
            body = await resp.json()
            assert resp.status == 200, body
        assert len(body["images"]) <= limit
        items += body["images"]
        sizes.append(len(body["images"]))
        if "next" not in body:
            return items, sizes
        path = "/image" + body["next"]
    raise AssertionError("more than 20 pages")


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


async def test_a_selector_beside_a_cloud_pages_whole(make_federation: FederationFactory) -> None:
    """`region=eu & cloud-2` is `(cloud-1 & cloud-3) & cloud-2`: it used to answer 4 items
    for limit=2 and no next page, dropping the other 5."""
    fed = await make_federation(shared_identity=True, identity_strategy="passthrough")
    ids = await _upload(fed, 3)
    items, sizes = await _list(fed, "region=eu & cloud-2", 2)
    assert sorted(_ids(items)) == sorted(ids["cloud-1"] | ids["cloud-2"] | ids["cloud-3"])
    assert_pages(sizes, 9, 2)


async def test_a_group_of_a_fan_out_and_a_cloud_beside_a_cloud(
    make_federation: FederationFactory,
) -> None:
    """`((cloud-1 & cloud-2) | cloud-3) & cloud-4`: the group pages on `cloud-1 & cloud-2`
    while either answers, on cloud-3 when both are down; nothing lost or repeated."""
    fed = await make_federation(clouds=4, shared_identity=True, identity_strategy="passthrough")
    ids = await _upload(fed, 4)
    glance = "((cloud-1 & cloud-2) | cloud-3) & cloud-4"
    items, _ = await _list(fed, glance, 2)
    assert sorted(_ids(items)) == sorted(ids["cloud-1"] | ids["cloud-2"] | ids["cloud-4"])
    for cloud in ("cloud-1", "cloud-2"):
        await fed.bed.set_faults(cloud, Faults(outage=True))
    items, _ = await _list(fed, glance, 2, keystone="cloud-4")
    assert sorted(_ids(items)) == sorted(ids["cloud-3"] | ids["cloud-4"])
    assert {item[CLOUD_TAG] for item in items} == {"cloud-3", "cloud-4"}


async def test_failover_to_a_fan_out_pages_by_composite_marker(
    make_federation: FederationFactory,
) -> None:
    """`cloud-1 | cloud-2 & cloud-3` with cloud-1 down: the fan-out answers, paged."""
    fed = await make_federation(shared_identity=True, identity_strategy="passthrough")
    ids = await _upload(fed, 3)
    await fed.bed.set_faults("cloud-1", Faults(outage=True))
    items, sizes = await _list(fed, "cloud-1 | cloud-2 & cloud-3", 4, keystone="cloud-2")
    assert sorted(_ids(items)) == sorted(ids["cloud-2"] | ids["cloud-3"])
    assert_pages(sizes, 6, 4)


async def test_a_cloud_down_ends_in_an_error_that_the_same_marker_resumes(
    make_federation: FederationFactory,
) -> None:
    """Once only a failed cloud is left, a page is a 502 naming it, not an empty page
    linking an empty page forever; the same URL, once it is back, resumes the listing."""
    fed = await make_federation(
        shared_identity=True, identity_strategy="passthrough", circuit_failures=1000
    )
    ids = await _upload(fed, 3)
    await fed.bed.set_faults("cloud-2", Faults(outage=True))
    headers = await fed.scoped("{keystone: cloud-1; glance: cloud-1 & cloud-2 & cloud-3}")
    seen: list[str] = []
    path = "/image/v2/images?limit=4"
    for _ in range(5):
        async with fed.session.get(fed.url + path, headers=headers) as resp:
            body = await resp.json()
        if resp.status != 200:
            break
        assert "cloud-2" in resp.headers[PARTIAL_FAILURE]
        seen += _ids(body["images"])
        path = "/image" + body["next"]
    assert resp.status == 502 and "cloud-2" in body["error"]["message"]
    assert sorted(seen) == sorted(ids["cloud-1"] | ids["cloud-3"])
    await fed.bed.set_faults("cloud-2", Faults())
    async with fed.session.get(fed.url + path, headers=headers) as resp:
        body = await resp.json()
    assert resp.status == 200 and "next" not in body
    seen += _ids(body["images"])
    assert sorted(seen) == sorted(ids["cloud-1"] | ids["cloud-2"] | ids["cloud-3"])


async def test_a_marker_of_another_scope_is_a_400(make_federation: FederationFactory) -> None:
    fed = await make_federation(shared_identity=True, identity_strategy="passthrough")
    await _upload(fed, 3)
    headers = await fed.scoped("{keystone: cloud-1; glance: (cloud-1 | cloud-2) & cloud-3}")
    async with fed.session.get(f"{fed.url}/image/v2/images?limit=1", headers=headers) as resp:
        next_page = (await resp.json())["next"]
    other = await fed.scoped("{keystone: cloud-1; glance: (cloud-1 & cloud-2) | cloud-3}")
    async with fed.session.get(f"{fed.url}/image{next_page}", headers=other) as resp:
        body = await resp.json()
    assert resp.status == 400 and "marker" in body["error"]["message"]


async def test_limit_zero_is_an_empty_last_page(make_federation: FederationFactory) -> None:
    """Like Glance: no items and no next link, rather than an endless chain of empty pages."""
    fed = await make_federation()
    headers = await fed.scoped("{keystone: cloud-1; glance: cloud-1 & cloud-2}")
    async with fed.session.get(f"{fed.url}/image/v2/images?limit=0", headers=headers) as resp:
        body = await resp.json()
    assert resp.status == 200 and body["images"] == [] and "next" not in body


@pytest.mark.parametrize("limit", ["", "?limit=2"])
async def test_a_token_no_cloud_accepts_is_a_401_paged_or_not(
    make_federation: FederationFactory, limit: str
) -> None:
    """Every cloud refuses the token: the client gets their 401 and re-authenticates.
    A paged listing used to answer 502, as if the clouds were down."""
    fed = await make_federation(shared_identity=True, identity_strategy="passthrough")
    scope = "{keystone: cloud-1; glance: cloud-1 & (cloud-2 | cloud-3)}"
    headers = {"X-Auth-Token": "expired-or-forged", "X-Scope": scope}
    async with fed.session.get(f"{fed.url}/image/v2/images{limit}", headers=headers) as resp:
        assert resp.status == 401, await resp.text()
        assert "cloud-1: status 401" in resp.headers[PARTIAL_FAILURE]


async def test_a_page_with_one_cloud_refusing_still_lists_the_others(
    make_federation: FederationFactory,
) -> None:
    """Passed through to a cloud that did not issue it, cloud-1's token is refused by
    cloud-2: a 200 page of cloud-1's images, naming the refusal."""
    fed = await make_federation(identity_strategy="passthrough")
    headers = await fed.scoped("{keystone: cloud-1; glance: cloud-1 & cloud-2}")
    async with fed.session.get(f"{fed.url}/image/v2/images?limit=5", headers=headers) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        assert "cloud-2: status 401" in resp.headers[PARTIAL_FAILURE]
    assert {item[CLOUD_TAG] for item in body["images"]} == {"cloud-1"}


async def _follow(
    fed: Federation, scope: str, path: str, key: str, limit: int
) -> tuple[list[str], list[int]]:
    """Every page of a Nova or Neutron listing, following `<key>_links` rel=next."""
    headers = await fed.scoped(scope)
    url = f"{fed.url}{path}?limit={limit}"
    ids: list[str] = []
    sizes: list[int] = []
    for _ in range(20):
        async with fed.session.get(url, headers=headers) as resp:
            body = await resp.json()
            assert resp.status == 200, body
        ids += [item["id"] for item in body[key]]
        sizes.append(len(body[key]))
        nexts = [link["href"] for link in body.get(f"{key}_links", []) if link["rel"] == "next"]
        if not nexts:
            return ids, sizes
        url = nexts[0]
        assert url.startswith(fed.url), "a next link that leaves the proxy"
    raise AssertionError("more than 20 pages")


async def test_servers_page_across_clouds(make_federation: FederationFactory) -> None:
    """Nova's limit/marker and servers_links, fanned out over two clouds by the proxy."""
    fed = await make_federation(shared_identity=True, identity_strategy="passthrough")
    created: set[str] = set()
    for cloud in ("cloud-1", "cloud-2"):
        scope = f"{{keystone: cloud-1; nova: {cloud}; glance: {cloud}}}"
        headers = await fed.scoped(scope)
        image = fed.bed.cloud(cloud).image_id
        for n in range(3):
            server = {"server": {"name": f"vm-{n}", "imageRef": image, "flavorRef": "1"}}
            url = f"{fed.url}/compute/v2.1/servers"
            async with fed.session.post(url, json=server, headers=headers) as resp:
                assert resp.status == 202, await resp.text()
                created.add((await resp.json())["server"]["id"])
    scope = "{keystone: cloud-1; nova: cloud-1 & cloud-2}"
    for path in ("/compute/v2.1/servers", "/compute/v2.1/servers/detail"):
        ids, sizes = await _follow(fed, scope, path, "servers", 4)
        assert sorted(ids) == sorted(created)
        assert_pages(sizes, 6, 4)


async def test_networks_page_across_clouds(make_federation: FederationFactory) -> None:
    """Neutron's limit/marker and networks_links, fanned out over two clouds by the proxy."""
    fed = await make_federation(shared_identity=True, identity_strategy="passthrough")
    made = {stable_id(cloud, "network/private") for cloud in ("cloud-1", "cloud-2")}  # seeded
    for cloud in ("cloud-1", "cloud-2"):
        headers = await fed.scoped(f"{{keystone: cloud-1; neutron: {cloud}}}")
        for n in range(2):
            url = f"{fed.url}/network/v2.0/networks"
            async with fed.session.post(
                url, json={"network": {"name": f"n{n}"}}, headers=headers
            ) as r:
                assert r.status == 201, await r.text()
                made.add((await r.json())["network"]["id"])
    scope = "{keystone: cloud-1; neutron: cloud-1 & cloud-2}"
    ids, sizes = await _follow(fed, scope, "/network/v2.0/networks", "networks", 2)
    assert sorted(ids) == sorted(made)
    assert_pages(sizes, 6, 2)
