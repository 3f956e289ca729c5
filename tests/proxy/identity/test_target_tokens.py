"""Tokens of mapped target credentials: one login per (rule, target, credential), kept until
the margin before expiry, refused when they carry admin unasked; login_as against a
simulated Keystone over HTTP."""

from __future__ import annotations

import time
from collections import Counter

import aiohttp
import pytest

from openstackoid.proxy.identity.errors import MappedLoginRefused, MappedRoleRefused
from openstackoid.proxy.identity.target_tokens import MARGIN, TargetLogin, TargetTokens, login_as
from openstackoid.registry import Cloud, IdentityMapping, credential_from_data
from openstackoid.testbed import Testbed
from tests.identity.keystone_admin import KeystoneAdmin

TARGET = Cloud("cloud-2", "http://127.0.0.1:2/identity/v3")
CREDENTIAL = credential_from_data(
    {"cloud": "cloud-2", "name": "reader", "application_credential_id": "a",
     "application_credential_secret": "s"}
)  # fmt: skip


class Keystone:
    """A login function that counts, handing out tokens living `lifetime` seconds."""

    def __init__(self, roles: frozenset[str], lifetime: float = 3600.0) -> None:
        self.roles, self.lifetime, self.logins = roles, lifetime, Counter[str]()

    async def login(self, cloud: Cloud, credential: object) -> TargetLogin:
        self.logins[cloud.name] += 1
        expires = time.monotonic() + self.lifetime
        return TargetLogin(f"t{sum(self.logins.values())}", expires, self.roles)


async def test_a_token_is_kept_until_the_margin_and_forgotten_on_demand() -> None:
    keystone = Keystone(frozenset({"reader"}))
    tokens = TargetTokens(keystone.login)
    mapping = IdentityMapping("cloud-2", "r", CREDENTIAL)
    first, until = await tokens.token(mapping, TARGET)
    assert (await tokens.token(mapping, TARGET))[0] == first and keystone.logins["cloud-2"] == 1
    assert until <= time.monotonic() + 3600 - MARGIN
    tokens.forget(TARGET)
    assert (await tokens.token(mapping, TARGET))[0] != first
    short = Keystone(frozenset({"reader"}), lifetime=MARGIN - 1)  # never worth keeping
    kept = TargetTokens(short.login)
    for _ in range(3):
        await kept.token(mapping, TARGET)
    assert short.logins["cloud-2"] == 3


async def test_a_token_with_admin_is_refused_unless_the_rule_allows() -> None:
    keystone = Keystone(frozenset({"admin", "member", "reader"}))
    with pytest.raises(MappedRoleRefused, match="holds the admin role at cloud 'cloud-2'"):
        await TargetTokens(keystone.login).token(
            IdentityMapping("cloud-2", "r", CREDENTIAL), TARGET
        )
    allowed = IdentityMapping("cloud-2", "r", CREDENTIAL, allow_admin=True)
    assert (await TargetTokens(keystone.login).token(allowed, TARGET))[0]


async def test_login_as_an_application_credential_of_a_simulated_keystone() -> None:
    async with Testbed(clouds=1) as bed, aiohttp.ClientSession() as session:
        info = bed.cloud("cloud-1")
        admin = await KeystoneAdmin.login(session, info.auth_url, "admin", info.password, "admin")
        made = await admin.application_credential("reader", ["reader"])
        cloud = Cloud("cloud-1", info.auth_url)
        good = credential_from_data(
            {"cloud": "cloud-1", "name": "reader", "application_credential_id": made.id,
             "application_credential_secret": made.secret}
        )  # fmt: skip
        login = await login_as(session, cloud, good, True)
        assert login.token and login.roles == {"reader"} and login.expires > time.monotonic()
        bad = credential_from_data(
            {"cloud": "cloud-1", "name": "reader", "application_credential_id": made.id,
             "application_credential_secret": "wrong"}
        )  # fmt: skip
        with pytest.raises(MappedLoginRefused, match="refused the credential reader@cloud-1"):
            await login_as(session, cloud, bad, True)
