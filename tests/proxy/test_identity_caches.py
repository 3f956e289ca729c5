"""The identity strategy's caches against simulated Keystones over HTTP: the mapped
credential token's deadline and its margin, the validation cache's expiry, and forget()
then a fresh token after a cloud's 401."""

import asyncio
from pathlib import Path

import aiohttp
import pytest

from openstackoid.proxy.errors import Unauthorized
from openstackoid.proxy.identity.logins import Logins
from openstackoid.proxy.identity.strategies import StrategyContext, ValidateAtIssuer
from openstackoid.proxy.identity.target_tokens import MARGIN
from openstackoid.registry import Cloud, Registry, load_clouds_yaml
from openstackoid.testbed import Testbed, admin_auth_body
from tests.federation import Federation, fleet_admins


def _clouds(bed: Testbed, tmp_path: Path) -> dict[str, Cloud]:
    return {c.name: c for c in load_clouds_yaml(bed.write_clouds_yaml(tmp_path / "c.yaml"))}


async def _user_token(session: aiohttp.ClientSession, bed: Testbed, name: str) -> str:
    cloud = bed.cloud(name)
    async with session.post(f"{cloud.auth_url}/auth/tokens", json=admin_auth_body(cloud)) as r:
        assert r.status == 201
        return r.headers["X-Subject-Token"]


def _strategy(session: aiohttp.ClientSession, clouds: dict[str, Cloud]) -> ValidateAtIssuer:
    """validate-at-issuer with the fixture's admins-everywhere mapping rules."""
    registry = Registry(clouds.values())
    return ValidateAtIssuer(StrategyContext(Logins(session), fleet_admins(registry), registry))


def _logins(bed: Testbed, name: str) -> int:
    return sum(
        1 for r in bed.requests(name) if r.method == "POST" and r.path == "/identity/v3/auth/tokens"
    )


def _validations(bed: Testbed, name: str) -> int:
    return sum(
        1 for r in bed.requests(name) if r.method == "GET" and r.path == "/identity/v3/auth/tokens"
    )


async def test_a_service_token_is_reused_until_its_margin(testbed: Testbed, tmp_path: Path) -> None:
    clouds = _clouds(testbed, tmp_path)
    async with aiohttp.ClientSession() as session:
        strategy = _strategy(session, clouds)
        user = await _user_token(session, testbed, "cloud-1")
        testbed.clear_requests()
        first = await strategy.token_for(clouds["cloud-1"], clouds["cloud-2"], user)
        second = await strategy.token_for(clouds["cloud-1"], clouds["cloud-2"], user)
        assert first == second and first != user
        assert _logins(testbed, "cloud-2") == 1  # one login, reused (an hour to live)
        assert _validations(testbed, "cloud-1") == 1  # one validation, cached
        # cloud-3 hands out tokens that expire inside the margin: never worth caching.
        testbed.set_token_lifetime("cloud-3", MARGIN - 1)
        tokens = {
            await strategy.token_for(clouds["cloud-1"], clouds["cloud-3"], user) for _ in range(3)
        }
        assert len(tokens) == 3 and _logins(testbed, "cloud-3") == 3
        # Just past the margin: cached again.
        testbed.set_token_lifetime("cloud-3", MARGIN + 30)
        strategy.forget(clouds["cloud-3"])
        again = {
            await strategy.token_for(clouds["cloud-1"], clouds["cloud-3"], user) for _ in range(3)
        }
        assert len(again) == 1 and _logins(testbed, "cloud-3") == 4


async def test_a_validation_is_kept_until_the_token_expires(
    testbed: Testbed, tmp_path: Path
) -> None:
    clouds = _clouds(testbed, tmp_path)
    testbed.set_token_lifetime("cloud-1", 1.0)
    async with aiohttp.ClientSession() as session:
        strategy = _strategy(session, clouds)
        user = await _user_token(session, testbed, "cloud-1")
        testbed.clear_requests()
        await strategy.token_for(clouds["cloud-1"], clouds["cloud-2"], user)
        await strategy.token_for(clouds["cloud-1"], clouds["cloud-2"], user)
        assert _validations(testbed, "cloud-1") == 1

        async def refused() -> bool:
            try:
                await strategy.token_for(clouds["cloud-1"], clouds["cloud-2"], user)
            except Unauthorized:
                return True
            return False

        # Once the token's own expiry passes, the cache lets go: the issuer is asked again
        # and says no (bounded wait for that event, no fixed sleep).
        async with asyncio.timeout(10):
            while not await refused():
                await asyncio.sleep(0.05)
        assert _validations(testbed, "cloud-1") == 2
        with pytest.raises(Unauthorized, match="cloud-1"):
            await strategy.token_for(clouds["cloud-1"], clouds["cloud-2"], user)


async def test_a_refused_service_token_is_forgotten_and_replaced(federation: Federation) -> None:
    """cloud-2 stops honouring the proxy's token (revoked there): the proxy forgets it,
    logs in again and the caller's request still succeeds."""
    bed = federation.bed
    headers = await federation.scoped("{keystone: cloud-1; glance: cloud-2}")
    url = f"{federation.url}/image/v2/images"
    async with federation.session.get(url, headers=headers) as resp:
        assert resp.status == 200
    admin = bed.keystone("cloud-2").find_user("admin")
    assert admin is not None
    assert bed.revoke_tokens("cloud-2", admin.id) == 1  # the proxy's one service token
    bed.clear_requests()
    async with federation.session.get(url, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        images = (await resp.json())["images"]
    assert [i["id"] for i in images] == [bed.cloud("cloud-2").image_id]
    seen = [(r.method, r.path, r.caller is not None) for r in bed.requests("cloud-2")]
    assert seen == [
        ("GET", "/image/v2/images", False),  # the revoked token: 401
        ("POST", "/identity/v3/auth/tokens", False),  # a fresh login
        ("GET", "/image/v2/images", True),  # the retry, with the new token
    ]
