"""CloudClient.send against the testbed: what it checks before a cloud is asked."""

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from multidict import CIMultiDict, CIMultiDictProxy

from openstackoid.proxy.circuit import CircuitBreakers
from openstackoid.proxy.errors import CircuitOpen, UpstreamUnavailable
from openstackoid.proxy.identity import Logins, Passthrough
from openstackoid.proxy.metrics import ProxyMetrics
from openstackoid.proxy.upstream.client import CloudClient, UpstreamRequest
from openstackoid.proxy.upstream.pool import UpstreamPool
from openstackoid.registry import Cloud, Credentials
from openstackoid.registry.discovery import EndpointCatalog
from openstackoid.testbed import Testbed


@pytest_asyncio.fixture
async def client() -> AsyncIterator[CloudClient]:
    pool = UpstreamPool(limit_per_host=4, keepalive_timeout=5, connect_timeout=2, timeout=5)
    async with aiohttp.ClientSession() as session:
        logins = Logins(session)
        catalog = EndpointCatalog(catalog_of=logins.catalog)
        yield CloudClient(
            pool, Passthrough(logins), CircuitBreakers(1, 60.0), ProxyMetrics(), catalog, session
        )
    pool.close()


def _request(cloud: Cloud, token: str | None, url: str | None = None) -> UpstreamRequest:
    headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
    return UpstreamRequest(
        cloud, "image", None, "GET", "/v2/images", "limit=1", headers, token, None, url
    )


def _bare(bed: Testbed, name: str) -> Cloud:
    """A cloud known by its Keystone only: its endpoints come from its catalog."""
    info = bed.cloud(name)
    credentials = Credentials(info.username, info.password, info.project_name)
    return Cloud(name, info.auth_url, credentials=credentials)


async def test_endpoints_are_discovered_and_the_answer_knows_its_root(
    testbed: Testbed, client: CloudClient
) -> None:
    response = await client.send(_request(_bare(testbed, "cloud-2"), None))
    async with response:
        assert response.status == 401  # no token: the cloud's own refusal
    assert response.root == testbed.cloud("cloud-2").endpoints["image"]
    asked = [r.path for r in testbed.requests("cloud-2")]
    assert asked == ["/identity/v3/auth/tokens", "/image/v2/images"]


async def test_a_link_outside_the_clouds_endpoint_is_not_followed(
    testbed: Testbed, client: CloudClient
) -> None:
    cloud = _bare(testbed, "cloud-2")
    outside = testbed.cloud("cloud-3").endpoints["image"] + "/v2/images"
    with pytest.raises(UpstreamUnavailable, match="outside its endpoint"):
        await client.send(_request(cloud, "t", url=outside))
    assert not testbed.requests("cloud-3")


async def test_an_open_circuit_asks_nothing(testbed: Testbed, client: CloudClient) -> None:
    cloud = _bare(testbed, "cloud-1")
    client.breakers.failure(cloud.name)
    with pytest.raises(CircuitOpen):
        await client.send(_request(cloud, "t"))
    assert not testbed.requests("cloud-1")
