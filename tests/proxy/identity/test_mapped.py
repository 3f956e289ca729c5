"""The mapped identity core: validate, decide, act. Default deny before any login, one
validation and one login shared by concurrent requests, groups asked only when needed."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from openstackoid.proxy.errors import Unauthorized
from openstackoid.proxy.identity.errors import MappedRoleRefused, MappingDenied
from openstackoid.proxy.identity.mapped import OWN_TOKEN, MappedIdentity
from openstackoid.proxy.identity.target_tokens import TargetLogin, TargetTokens
from openstackoid.proxy.identity.validations import ValidationCache
from openstackoid.registry import Cloud, Registry
from openstackoid.registry.caller import CallerIdentity
from openstackoid.registry.mapping import RuleBook
from openstackoid.registry.rules import TargetCredential, credential_from_data, rule_from_data

CLOUDS = [Cloud(f"cloud-{i}", f"http://127.0.0.1:{i}/identity/v3") for i in (1, 2, 3)]
MEMBER = CallerIdentity("cloud-1", "u-1", "demo", roles=frozenset({"member"}))
FAR_FUTURE = 1e12


class Fakes:
    """The issuer's validation and the target's login as plain functions that count."""

    def __init__(self, roles: frozenset[str] = frozenset({"reader"})) -> None:
        self.checks: Counter[tuple[str, str]] = Counter()
        self.logins: Counter[tuple[str, str]] = Counter()
        self.denials: list[tuple[str, str]] = []
        self.roles = roles
        self.revoked: set[str] = set()
        self.gate = asyncio.Event()
        self.gate.set()
        self.group_lookups = 0
        self.groups: frozenset[str] = frozenset({"staff"})

    async def lookup_groups(self, issuer: Cloud, token: str, user_id: str) -> frozenset[str]:
        self.group_lookups += 1
        return self.groups

    async def check(self, issuer: Cloud, token: str) -> tuple[CallerIdentity, float]:
        self.checks[(issuer.name, token)] += 1
        await self.gate.wait()
        if token in self.revoked or issuer.name != "cloud-1":
            raise Unauthorized("refused")
        return MEMBER, FAR_FUTURE

    async def login(self, cloud: Cloud, credential: TargetCredential) -> TargetLogin:
        self.logins[(cloud.name, credential.name)] += 1
        await self.gate.wait()
        return TargetLogin(f"token-of-{credential.name}@{cloud.name}", FAR_FUTURE, self.roles)


def _mapped(fakes: Fakes, *rules: dict[str, object], seconds: float = 60) -> MappedIdentity:
    book = RuleBook(
        [rule_from_data(r) for r in rules],
        [
            credential_from_data(
                {
                    "cloud": "cloud-3",
                    "name": "reader",
                    "application_credential_id": "ac",
                    "application_credential_secret": "s",
                }
            )
        ],
    )
    return MappedIdentity(
        book,
        Registry(CLOUDS),
        ValidationCache(seconds),
        TargetTokens(fakes.login),
        fakes.check,
        lambda issuer, target: fakes.denials.append((issuer, target)),
        fakes.lookup_groups,
    )


RULE = {
    "name": "members-read",
    "match": {"issuer": "cloud-1", "roles": "member"},
    "targets": "cloud-3",
    "credential": "reader",
}
ISSUER, OTHER, TARGET = CLOUDS


async def test_no_rule_is_a_403_before_any_login() -> None:
    fakes = Fakes()
    with pytest.raises(MappingDenied) as caught:
        await _mapped(fakes).acting(ISSUER, TARGET, "tok")
    assert caught.value.status == 403
    assert "demo (u-1)" in caught.value.message and "'cloud-3'" in caught.value.message
    assert fakes.logins == Counter() and fakes.denials == [("cloud-1", "cloud-3")]


async def test_a_rule_maps_to_the_credentials_token_once_for_many_requests() -> None:
    fakes = Fakes()
    mapped = _mapped(fakes, RULE)
    fakes.gate.clear()
    calls = [mapped.acting(ISSUER, TARGET, "tok") for _ in range(20)]
    waiting = asyncio.gather(*calls)
    await asyncio.sleep(0)
    fakes.gate.set()
    results = await waiting
    assert {r.token for r in results} == {"token-of-reader@cloud-3"}
    assert results[0].caller == MEMBER
    assert results[0].identity == "reader@cloud-3 (application credential ac)"
    assert fakes.checks == Counter({("cloud-1", "tok"): 1})
    assert fakes.logins == Counter({("cloud-3", "reader"): 1})


async def test_own_cloud_keeps_the_token_but_validates_it_for_the_audit() -> None:
    fakes = Fakes()
    mapped = _mapped(fakes)
    assert await mapped.acting(ISSUER, ISSUER, "tok") == ("tok", MEMBER, OWN_TOKEN)
    assert fakes.checks == Counter({("cloud-1", "tok"): 1}) and fakes.logins == Counter()
    fakes.revoked.add("other")
    with pytest.raises(Unauthorized):
        await mapped.acting(ISSUER, ISSUER, "other")


async def test_no_token_passes_unasked() -> None:
    fakes = Fakes()
    assert await _mapped(fakes).acting(ISSUER, TARGET, None) == (None, None, OWN_TOKEN)
    assert fakes.checks == Counter()


async def test_a_validation_binds_to_its_issuer() -> None:
    fakes = Fakes()
    mapped = _mapped(fakes, RULE)
    await mapped.acting(ISSUER, TARGET, "tok")
    for _ in range(2):  # always refused, however often cloud-1 vouched for it
        with pytest.raises(Unauthorized):
            await mapped.acting(OTHER, TARGET, "tok")
    assert fakes.checks[("cloud-2", "tok")] == 2


async def test_revocation_is_seen_once_the_bound_ends() -> None:
    fakes = Fakes()
    mapped = _mapped(fakes, RULE, seconds=0)  # bound 0: every request asks the issuer
    await mapped.acting(ISSUER, TARGET, "tok")
    fakes.revoked.add("tok")
    with pytest.raises(Unauthorized):
        await mapped.acting(ISSUER, TARGET, "tok")
    assert fakes.checks[("cloud-1", "tok")] == 2


async def test_a_mapped_credential_holding_admin_is_refused() -> None:
    fakes = Fakes(roles=frozenset({"admin", "member", "reader"}))
    with pytest.raises(MappedRoleRefused, match="holds the admin role at cloud 'cloud-3'"):
        await _mapped(fakes, RULE).acting(ISSUER, TARGET, "tok")
    allowed = {**RULE, "allow_admin": True}
    acting = await _mapped(fakes, allowed).acting(ISSUER, TARGET, "tok")
    assert acting.token == "token-of-reader@cloud-3"


async def test_passthrough_rule_forwards_the_callers_token() -> None:
    fakes = Fakes()
    rule = {
        "name": "shared",
        "match": {"issuer": "cloud-1"},
        "targets": "cloud-2",
        "passthrough": True,
    }
    acting = await _mapped(fakes, rule).acting(ISSUER, OTHER, "tok")
    assert acting.token == "tok" and acting.caller == MEMBER and fakes.logins == Counter()


async def test_forgetting_a_target_logs_in_again() -> None:
    fakes = Fakes()
    mapped = _mapped(fakes, RULE)
    await mapped.acting(ISSUER, TARGET, "tok")
    mapped.forget(TARGET)
    await mapped.acting(ISSUER, TARGET, "tok")
    assert fakes.logins[("cloud-3", "reader")] == 2


async def test_a_requester_gone_mid_validation_leaves_the_others_served() -> None:
    fakes = Fakes()
    mapped = _mapped(fakes, RULE)
    fakes.gate.clear()
    first = asyncio.ensure_future(mapped.acting(ISSUER, TARGET, "tok"))
    second = asyncio.ensure_future(mapped.acting(ISSUER, TARGET, "tok"))
    while not fakes.checks:  # both wait on the one validation
        await asyncio.sleep(0)
    first.cancel()
    fakes.gate.set()
    assert (await second).token == "token-of-reader@cloud-3"
    assert first.cancelled() and fakes.checks[("cloud-1", "tok")] == 1


async def test_groups_are_asked_only_when_a_rule_needs_them() -> None:
    fakes = Fakes()
    mapped = _mapped(fakes, RULE)
    await mapped.acting(ISSUER, TARGET, "tok")
    assert fakes.group_lookups == 0
    staff_only = {
        **RULE,
        "name": "staff",
        "priority": 1,
        "match": {"issuer": "cloud-1", "groups": "staff"},
    }
    mapped.book.upsert_rule(rule_from_data(staff_only))
    acting = await mapped.acting(ISSUER, TARGET, "tok")  # cached before: asked again
    assert acting.caller is not None and acting.caller.groups == {"staff"}
    await mapped.acting(ISSUER, TARGET, "tok")
    assert fakes.group_lookups == 1 and fakes.checks[("cloud-1", "tok")] == 2
    fakes.groups = frozenset({"contractors"})  # another caller, not staff
    with pytest.raises(MappingDenied):
        await _mapped(fakes, staff_only).acting(ISSUER, TARGET, "tok2")
