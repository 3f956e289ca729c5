"""One Keystone login per cloud: a burst shares it, it is kept, and forgotten on demand."""

import asyncio
import dataclasses

import aiohttp
import pytest

from openstackoid.proxy.identity import Logins
from openstackoid.registry import Cloud, Credentials
from openstackoid.registry.errors import LoginRefused, NoCredentials
from openstackoid.testbed import Testbed


def _cloud(bed: Testbed, name: str, password: str | None = None) -> Cloud:
    info = bed.cloud(name)
    credentials = Credentials(info.username, password or info.password, info.project_name)
    return Cloud(name, info.auth_url, credentials=credentials)


def _logins_at(bed: Testbed, name: str) -> int:
    return sum(r.method == "POST" and r.path.endswith("/auth/tokens") for r in bed.requests(name))


async def test_a_burst_shares_one_login_until_it_is_forgotten(testbed: Testbed) -> None:
    cloud = _cloud(testbed, "cloud-2")
    async with aiohttp.ClientSession() as session:
        logins = Logins(session)
        found = await asyncio.gather(*(logins.of(cloud) for _ in range(20)))
        assert len({login.token for login in found}) == 1
        assert found[0].catalog and found[0].expires_at
        assert (await logins.catalog(session, cloud)) == found[0].catalog
        assert _logins_at(testbed, "cloud-2") == 1
        logins.forget(cloud)
        assert (await logins.of(cloud)).token != found[0].token
        assert _logins_at(testbed, "cloud-2") == 2


async def test_refused_and_missing_credentials_are_registry_errors(testbed: Testbed) -> None:
    async with aiohttp.ClientSession() as session:
        logins = Logins(session)
        with pytest.raises(LoginRefused) as refused:
            await logins.of(_cloud(testbed, "cloud-1", password="wrong"))
        assert refused.value.status == 401
        with pytest.raises(NoCredentials):
            await logins.of(dataclasses.replace(_cloud(testbed, "cloud-1"), credentials=None))
