"""Version discovery answered whatever the scope: a healthy cloud's document, remembered or
fetched, only when the routed answer is an error, and at a bounded cost."""

import asyncio

import pytest
from aiohttp import web

from openstackoid.proxy.upstream.client import UpstreamRequest, UpstreamResponse
from openstackoid.proxy.versions import STAND_IN, VersionDocuments
from openstackoid.registry import Cloud, Registry
from openstackoid.testbed import Faults
from tests.federation import Federation


async def test_a_healthy_cloud_s_own_document_is_relayed(federation: Federation) -> None:
    """The stand-in is for errors only: a working route gets its own cloud's document."""
    fed = federation
    async with fed.session.get(f"{fed.url}/image", headers={"X-Scope": "{glance: cloud-3}"}) as r:
        assert r.status == 300 and STAND_IN not in r.headers
        own = await r.json()
    await fed.bed.set_faults("cloud-3", Faults(outage=True))
    async with fed.session.get(f"{fed.url}/image", headers={"X-Scope": "{glance: cloud-3}"}) as r:
        assert r.status == 300
        assert "cloud 'cloud-3' is unreachable" in r.headers[STAND_IN]
        stood_in = await r.json()
    assert stood_in == own
    hrefs = [link["href"] for v in own["versions"] for link in v["links"]]
    assert hrefs and all(h.startswith(f"{fed.url}/image/") for h in hrefs)


async def test_a_cold_proxy_fetches_a_healthy_cloud_s_document(federation: Federation) -> None:
    """Nothing remembered yet: the document comes from another cloud, links rewritten."""
    fed = federation
    headers = {"X-Scope": "{compute: nowhere}"}
    async with fed.session.get(f"{fed.url}/compute/v2.1/", headers=headers) as r:
        assert r.status == 200, await r.text()
        assert "Unknown cloud 'nowhere'" in r.headers[STAND_IN]
        document = await r.json()
    assert document["version"]["id"] == "v2.1"
    assert all(link["href"].startswith(fed.url) for link in document["version"]["links"])
    async with fed.session.get(f"{fed.url}/compute/v2.1/servers", headers=headers) as r:
        assert r.status == 400  # only discovery is stood in for


async def test_a_path_no_cloud_documents_keeps_its_error_and_costs_one_call(
    federation: Federation,
) -> None:
    """Anyone may ask for discovery: a path no cloud has is asked of one cloud, once."""
    fed = federation
    for _ in range(3):
        headers = {"X-Scope": "{glance: nowhere}"}
        async with fed.session.get(f"{fed.url}/image/v99", headers=headers) as r:
            assert r.status == 400 and STAND_IN not in r.headers
            assert "Unknown cloud 'nowhere'" in (await r.json())["error"]["message"]
    asked = [r for c in fed.bed.clouds for r in fed.bed.requests(c.name) if r.path == "/image/v99"]
    assert len(asked) == 1


async def test_a_scope_in_the_url_keeps_its_prefix_in_a_stood_in_document(
    federation: Federation,
) -> None:
    fed = federation
    async with fed.session.get(f"{fed.url}/scope/clod-2/image") as r:
        assert r.status == 300 and "clod-2" in r.headers[STAND_IN]
        document = await r.json()
    hrefs = [link["href"] for v in document["versions"] for link in v["links"]]
    assert hrefs and all(h.startswith(f"{fed.url}/scope/clod-2/image/") for h in hrefs)
    async with fed.session.get(f"{fed.url}/scope/clod-2/image/v2/images") as r:
        assert r.status == 400 and "clod-2" in (await r.json())["error"]["message"]


async def test_those_waiting_on_a_fetch_that_fails_unexpectedly_keep_their_error() -> None:
    """One fetch per document serves every waiter: when it raises something unforeseen (or
    its request is cancelled), the others get their routed error back, not a hang."""
    started, go = asyncio.Event(), asyncio.Event()

    async def send(request: UpstreamRequest) -> UpstreamResponse:
        started.set()
        await go.wait()
        raise RuntimeError("a bug in the fetch")

    registry = Registry([Cloud("cloud-1", "http://127.0.0.1:1/identity/v3")])
    documents = VersionDocuments(registry, send, read_timeout=1.0)

    def refused() -> web.Response:
        return web.json_response({"error": {"code": 503}}, status=503)

    loop = asyncio.get_running_loop()
    first = loop.create_task(documents.settle(refused(), "image", "", "/image"))
    await started.wait()
    waiting = loop.create_task(documents.settle(refused(), "image", "", "/image"))
    await asyncio.sleep(0)
    go.set()
    with pytest.raises(RuntimeError):
        await first
    async with asyncio.timeout(2):
        answer = await waiting
    assert answer.status == 503
