"""Identity across simulated clouds through the proxy: default deny before anything reaches
the target, a rule's credential used instead of the caller's token, the admin role refused
unless allowed, validations bound to their issuer and to token_cache_seconds, the audit in
the access log and denials in /metrics, Nova's calls for the user mapped like the user's.

The simulated Keystone's users hold every role; the real-Keystone tests
(test_real_mapping.py) check member/reader least privilege."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import pytest

from registry import RuleBook, credential_from_data, rule_from_data
from tests.federation import Federation, FederationFactory

SCOPE = "{keystone: cloud-1; glance: cloud-2}"
READER = {
    "cloud": "cloud-2",
    "name": "reader",
    "application_credential_id": "fed-reader-id",
    # The simulated Keystone takes an application credential with its users' password.
    "application_credential_secret": "secret",
}
RULE: dict[str, Any] = {
    "name": "cloud1-to-cloud2",
    "match": {"issuer": "cloud-1", "roles": "member"},
    "targets": "cloud-2",
    "credential": "reader",
    "allow_admin": True,  # simulated tokens carry admin as well
}


def _rules(*rules: dict[str, Any]) -> RuleBook:
    return RuleBook([rule_from_data(r) for r in rules], [credential_from_data(READER)])


async def _images(fed: Federation, headers: dict[str, str]) -> tuple[int, Any]:
    async with fed.session.get(f"{fed.url}/image/v2/images", headers=headers) as resp:
        return resp.status, await resp.json()


def _api_calls(fed: Federation, cloud: str) -> list[str]:
    """What a cloud received beyond anonymous version discovery."""
    return [r.path for r in fed.bed.requests(cloud) if r.has_token or r.path.count("/") > 1]


async def test_without_a_rule_the_target_receives_nothing(
    make_federation: FederationFactory,
) -> None:
    fed = await make_federation(rules=_rules())
    headers = await fed.scoped(SCOPE)
    fed.bed.clear_requests()
    status, body = await _images(fed, headers)
    assert status == 403
    message = body["error"]["message"]
    for needle in ("user admin (", "of cloud-1", "project admin (", "'cloud-2'", "no mapping rule"):
        assert needle in message, message
    assert _api_calls(fed, "cloud-2") == []


async def test_a_rule_maps_to_its_credential(make_federation: FederationFactory) -> None:
    fed = await make_federation(rules=_rules(RULE))
    headers = await fed.scoped(SCOPE)
    fed.bed.clear_requests()
    status, body = await _images(fed, headers)
    assert status == 200, body
    assert [i["id"] for i in body["images"]] == [fed.bed.cloud("cloud-2").image_id]
    logins = [r for r in fed.bed.requests("cloud-2") if r.path == "/identity/v3/auth/tokens"]
    assert [r.method for r in logins] == ["POST"]  # the credential's login, once
    await _images(fed, headers)
    logins = [r for r in fed.bed.requests("cloud-2") if r.path == "/identity/v3/auth/tokens"]
    assert len(logins) == 1  # its token is kept


async def test_a_credential_holding_admin_is_refused_unless_the_rule_allows(
    make_federation: FederationFactory,
) -> None:
    fed = await make_federation(rules=_rules({**RULE, "allow_admin": False}))
    status, body = await _images(fed, await fed.scoped(SCOPE))
    assert status == 403
    assert "holds the admin role at cloud 'cloud-2'" in body["error"]["message"]


async def test_a_validation_says_nothing_to_another_issuer(
    make_federation: FederationFactory,
) -> None:
    fed = await make_federation(rules=_rules(RULE))
    headers = await fed.scoped(SCOPE)
    assert (await _images(fed, headers))[0] == 200  # validated at cloud-1, kept
    foreign = {**headers, "X-Scope": "{keystone: cloud-2; glance: cloud-2}"}
    for _ in range(3):
        status, body = await _images(fed, foreign)
        assert status == 401 and "cloud-2" in body["error"]["message"]


async def test_revocation_is_seen_within_token_cache_seconds(
    make_federation: FederationFactory,
) -> None:
    bound = 1.0
    fed = await make_federation(rules=_rules(RULE), token_cache_seconds=bound)
    headers = await fed.scoped(SCOPE)
    assert (await _images(fed, headers))[0] == 200
    token = headers["X-Auth-Token"]
    revoke = {"X-Auth-Token": token, "X-Subject-Token": token}
    async with fed.session.delete(
        f"{fed.bed.cloud('cloud-1').auth_url}/auth/tokens", headers=revoke
    ) as resp:
        assert resp.status == 204
    revoked_at = time.monotonic()
    while (status := (await _images(fed, headers))[0]) == 200:
        # The refusal is the event awaited; the bound is what the test holds.
        assert time.monotonic() - revoked_at < bound + 5, "a revoked token still served"
        await asyncio.sleep(0.05)
    assert status == 401


async def test_the_access_log_names_the_caller_and_the_identity_used(
    make_federation: FederationFactory, caplog: pytest.LogCaptureFixture
) -> None:
    fed = await make_federation(rules=_rules(RULE), access_log=True)
    headers = await fed.scoped(SCOPE)
    denied = {**headers, "X-Scope": "{keystone: cloud-1; glance: cloud-3}"}
    with caplog.at_level(logging.INFO, logger="openstackoid.access"):
        assert (await _images(fed, headers))[0] == 200
        assert (await _images(fed, denied))[0] == 403
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "openstackoid.access"]
    allowed, refused = [line for line in lines if line["path"] == "/image/v2/images"]
    assert allowed["issuer"] == "cloud-1" and allowed["user_id"] and allowed["project_id"]
    assert allowed["acting_as"] == {
        "cloud-2": "reader@cloud-2 (application credential fed-reader-id)"
    }
    assert refused["status"] == 403 and refused["acting_as"] == {"cloud-3": "denied (no rule)"}
    text = caplog.text
    assert headers["X-Auth-Token"] not in text and "secret" not in text


async def test_metrics_count_denials_per_issuer_and_target(
    make_federation: FederationFactory,
) -> None:
    fed = await make_federation(rules=_rules())
    headers = await fed.scoped(SCOPE)
    for _ in range(2):
        assert (await _images(fed, headers))[0] == 403
    async with fed.session.get(f"{fed.url}/metrics") as resp:
        text = await resp.text()
    assert 'openstackoid_identity_denials_total{issuer="cloud-1",target="cloud-2"} 2.0' in text


async def test_nova_asking_glance_for_the_user_goes_through_the_users_mapping(
    make_federation: FederationFactory,
) -> None:
    """Nova of cloud-1 fetches the image from cloud-2's Glance with the user's token (through
    the proxy, without X-Scope): the user's mapping decides, not Nova's."""
    image_id = "cirros"
    server = {"server": {"name": "vm", "imageRef": image_id, "flavorRef": "2", "networks": "auto"}}
    for rules, allowed in ((_rules(), False), (_rules(RULE), True)):
        fed = await make_federation(rules=rules)
        image_id = fed.bed.cloud("cloud-2").image_id
        server["server"]["imageRef"] = image_id
        headers = await fed.scoped("{keystone: cloud-1; glance: cloud-2}")
        fed.bed.clear_requests()
        async with fed.session.post(
            f"{fed.url}/compute/v2.1/servers", json=server, headers=headers
        ) as resp:
            text = await resp.text()
        asked = [p for p in _api_calls(fed, "cloud-2") if p.endswith(image_id)]
        if allowed:
            assert resp.status == 202, text
            assert asked
        else:
            assert resp.status >= 400, text
            assert asked == []
