"""A cloud's TLS settings apply to every call the proxy makes to it: the API call, the
token validation at the issuer, the login for a service token, endpoint discovery and the
401 retry. Clouds served over HTTPS with a private CA (trustme): any call that forgot the
cloud's CA bundle (or verify: false) would fail verification and turn the answer into 502."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
import trustme

from openstackoid.proxy import ProxyConfig, running_proxy
from openstackoid.registry import Cloud, Credentials, Registry
from openstackoid.testbed import Testbed, admin_auth_body
from tests.federation import fleet_admins

SCOPE = "{keystone: cloud-1; glance: cloud-2}"


@pytest_asyncio.fixture
async def https_bed(tmp_path: Path) -> AsyncIterator[tuple[Testbed, Path]]:
    ca = trustme.CA()
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    async with Testbed(clouds=2, ssl_context=context) as bed:
        yield bed, cafile


def _registry(bed: Testbed, **tls: object) -> Registry:
    """cloud-2 declares no endpoints: they are discovered from its catalog."""
    clouds = []
    for info in bed.clouds:
        credentials = Credentials(info.username, info.password, info.project_name)
        endpoints = info.endpoints if info.name == "cloud-1" else {}
        clouds.append(
            Cloud(info.name, info.auth_url, endpoints=endpoints, credentials=credentials, **tls)  # type: ignore[arg-type]
        )
    return Registry(clouds)


async def _cross_cloud_listing(
    url: str, session: aiohttp.ClientSession, bed: Testbed
) -> tuple[int, str]:
    """A cloud-1 token (through the proxy), then cloud-2's images with it."""
    async with session.post(
        f"{url}/identity/v3/auth/tokens",
        json=admin_auth_body(bed.cloud("cloud-1")),
        headers={"X-Scope": SCOPE},
    ) as resp:
        if resp.status != 201:
            return resp.status, await resp.text()
        token = resp.headers["X-Subject-Token"]
    headers = {"X-Auth-Token": token, "X-Scope": SCOPE}
    async with session.get(f"{url}/image/v2/images", headers=headers) as resp:
        return resp.status, await resp.text()


def _logins(bed: Testbed, name: str) -> int:
    return sum(
        1 for r in bed.requests(name) if r.method == "POST" and r.path == "/identity/v3/auth/tokens"
    )


def _revoke_every_token_of(bed: Testbed, name: str) -> None:
    """What a Keystone restart with new fernet keys does: the proxy's service token dies."""
    book = bed.fleet.tokens
    for token, record in list(book._tokens.items()):
        if record.cloud == name:
            book.revoke(token)


@pytest.mark.parametrize("tls", ["cacert", "verify-false"])
async def test_the_whole_identity_path_uses_the_clouds_tls(
    https_bed: tuple[Testbed, Path], tls: str
) -> None:
    bed, cafile = https_bed
    settings = {"cacert": str(cafile)} if tls == "cacert" else {"verify": False}
    registry = _registry(bed, **settings)
    rules = fleet_admins(registry)
    async with (
        running_proxy(ProxyConfig(), registry, rules=rules) as url,
        aiohttp.ClientSession() as s,
    ):
        # Login at cloud-1 (pool), validation at cloud-1, the proxy's login at cloud-2 for
        # its catalog, the mapped credential's login at cloud-2, the listing (pool).
        status, text = await _cross_cloud_listing(url, s, bed)
        assert status == 200, text
        assert bed.cloud("cloud-2").image_id in text
        assert _logins(bed, "cloud-2") == 2  # the catalog's and the mapped credential's
        _revoke_every_token_of(bed, "cloud-2")
        status, text = await _cross_cloud_listing(url, s, bed)
        assert status == 200, text  # a 401, a fresh login over TLS, the retry
        assert _logins(bed, "cloud-2") == 3


async def test_a_private_ca_the_cloud_does_not_name_is_refused(
    https_bed: tuple[Testbed, Path],
) -> None:
    bed, _ = https_bed
    async with (
        running_proxy(ProxyConfig(), _registry(bed)) as url,
        aiohttp.ClientSession() as s,
    ):
        status, text = await _cross_cloud_listing(url, s, bed)
    assert status == 502 and "cloud-1" in text
    assert not bed.requests("cloud-1") and not bed.requests("cloud-2")
