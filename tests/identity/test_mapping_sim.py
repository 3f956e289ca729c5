"""Identity across simulated clouds through the proxy, set up as an operator would through
Keystone's API: cloud-1 holds user `demo`, `member` of project `demo`; cloud-2 holds an
application credential limited to `reader`. Default deny before anything reaches the target,
the rule's credential instead of the caller's token (and the target's own refusal beyond its
roles), the admin role refused unless allowed, validations bound to their issuer and to
token_cache_seconds, the audit in the access log and denials in /metrics, Nova's calls for
the user mapped like the user's own."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import pytest

from openstackoid.registry import RuleBook, credential_from_data, rule_from_data
from tests.federation import Federation, FederationFactory
from tests.identity.keystone_admin import AppCredential, KeystoneAdmin, password_auth

SCOPE = "{keystone: cloud-1; glance: cloud-2}"
DEMO_PASSWORD = "demo-pw"
RULE: dict[str, Any] = {
    "name": "cloud1-members-read-cloud2",
    "match": {"issuer": "cloud-1", "roles": "member"},
    "targets": "cloud-2",
    "credential": "reader",
}


@dataclass
class World:
    fed: Federation
    reader: AppCredential
    admin: AppCredential
    """An application credential of cloud-2's admin, with `admin`: what no rule should use."""

    def use(self, *rules: dict[str, Any]) -> None:
        """Put these rules in force (the proxy reads this very book)."""
        credentials = [
            credential_from_data(
                {
                    "cloud": "cloud-2",
                    "name": name,
                    "application_credential_id": cred.id,
                    "application_credential_secret": cred.secret,
                }
            )
            for name, cred in (("reader", self.reader), ("admin", self.admin))
        ]
        self.fed.rules.replace([rule_from_data(r) for r in rules], credentials)

    async def demo_headers(self, scope: str = SCOPE) -> dict[str, str]:
        """A token of `demo`, issued by cloud-1 through the proxy."""
        body = password_auth("demo", DEMO_PASSWORD, "demo")
        async with self.fed.session.post(
            f"{self.fed.url}/identity/v3/auth/tokens", json=body, headers={"X-Scope": scope}
        ) as resp:
            assert resp.status == 201, await resp.text()
            return {"X-Auth-Token": resp.headers["X-Subject-Token"], "X-Scope": scope}

    async def images(self, headers: dict[str, str]) -> tuple[int, Any]:
        async with self.fed.session.get(f"{self.fed.url}/image/v2/images", headers=headers) as resp:
            return resp.status, await resp.json()

    def api_calls(self, cloud: str) -> list[tuple[str, str]]:
        """What a cloud received beyond anonymous version discovery."""
        return [
            (r.method, r.path)
            for r in self.fed.bed.requests(cloud)
            if r.has_token or r.path.count("/") > 1
        ]


async def _world(make_federation: FederationFactory, **config: Any) -> World:
    fed = await make_federation(rules=RuleBook(), **config)
    one, two = fed.bed.cloud("cloud-1"), fed.bed.cloud("cloud-2")
    admin1 = await KeystoneAdmin.login(fed.session, one.auth_url, "admin", one.password, "admin")
    project = await admin1.project("demo")
    user = await admin1.user("demo", DEMO_PASSWORD, project)
    await admin1.grant(project, user, "member")
    admin2 = await KeystoneAdmin.login(fed.session, two.auth_url, "admin", two.password, "admin")
    reader = await admin2.application_credential("openstackoid-reader", ["reader"])
    # Every role named: the simulated Keystone does not expand implied roles in an
    # application credential's token (real Keystone does).
    admin = await admin2.application_credential("openstackoid-admin", ["admin", "member", "reader"])
    return World(fed, reader, admin)


async def test_without_a_rule_the_target_receives_nothing(
    make_federation: FederationFactory,
) -> None:
    world = await _world(make_federation)
    headers = await world.demo_headers()
    world.fed.bed.clear_requests()
    status, body = await world.images(headers)
    assert status == 403
    message = body["error"]["message"]
    for needle in ("user demo (", "of cloud-1", "project demo (", "'cloud-2'", "no mapping rule"):
        assert needle in message, message
    assert world.api_calls("cloud-2") == []


async def test_a_member_mapped_to_a_reader_lists_and_is_refused_a_delete_by_the_target(
    make_federation: FederationFactory,
) -> None:
    world = await _world(make_federation)
    world.use(RULE)
    headers = await world.demo_headers()
    world.fed.bed.clear_requests()
    status, body = await world.images(headers)
    assert status == 200, body
    image_id = world.fed.bed.cloud("cloud-2").image_id
    assert [i["id"] for i in body["images"]] == [image_id]
    async with world.fed.session.delete(
        f"{world.fed.url}/image/v2/images/{image_id}", headers=headers
    ) as resp:
        assert resp.status == 403  # cloud-2's own refusal: a reader deletes nothing
    assert ("DELETE", f"/image/v2/images/{image_id}") in world.api_calls("cloud-2")
    logins = [c for c in world.api_calls("cloud-2") if c[1] == "/identity/v3/auth/tokens"]
    assert logins == [("POST", "/identity/v3/auth/tokens")]  # the credential's, kept


async def test_a_credential_holding_admin_is_refused_unless_the_rule_allows(
    make_federation: FederationFactory,
) -> None:
    world = await _world(make_federation)
    world.use({**RULE, "credential": "admin"})
    headers = await world.demo_headers()
    status, body = await world.images(headers)
    assert status == 403
    assert "holds the admin role at cloud 'cloud-2'" in body["error"]["message"]
    world.use({**RULE, "credential": "admin", "allow_admin": True})
    assert (await world.images(headers))[0] == 200


async def test_a_validation_says_nothing_to_another_issuer(
    make_federation: FederationFactory,
) -> None:
    world = await _world(make_federation)
    world.use(RULE)
    headers = await world.demo_headers()
    assert (await world.images(headers))[0] == 200  # validated at cloud-1, kept
    foreign = {**headers, "X-Scope": "{keystone: cloud-2; glance: cloud-2}"}
    for _ in range(3):
        status, body = await world.images(foreign)
        assert status == 401 and "cloud-2" in body["error"]["message"]


async def test_revocation_is_seen_within_token_cache_seconds(
    make_federation: FederationFactory,
) -> None:
    bound = 1.0
    world = await _world(make_federation, token_cache_seconds=bound)
    world.use(RULE)
    headers = await world.demo_headers()
    assert (await world.images(headers))[0] == 200
    token = headers["X-Auth-Token"]
    revoke = {"X-Auth-Token": token, "X-Subject-Token": token}  # the user revokes its own
    async with world.fed.session.delete(
        f"{world.fed.bed.cloud('cloud-1').auth_url}/auth/tokens", headers=revoke
    ) as resp:
        assert resp.status == 204
    revoked_at = time.monotonic()
    while (status := (await world.images(headers))[0]) == 200:
        # The refusal is the event awaited; the bound is what the test holds.
        assert time.monotonic() - revoked_at < bound + 5, "a revoked token still served"
        await asyncio.sleep(0.05)
    assert status == 401


async def test_the_access_log_names_the_caller_and_the_identity_used(
    make_federation: FederationFactory, caplog: pytest.LogCaptureFixture
) -> None:
    world = await _world(make_federation, access_log=True)
    world.use(RULE)
    headers = await world.demo_headers()
    denied = {**headers, "X-Scope": "{keystone: cloud-1; glance: cloud-3}"}
    with caplog.at_level(logging.INFO, logger="openstackoid.access"):
        assert (await world.images(headers))[0] == 200
        assert (await world.images(denied))[0] == 403
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "openstackoid.access"]
    allowed, refused = [line for line in lines if line["path"] == "/image/v2/images"]
    assert allowed["issuer"] == "cloud-1" and allowed["user_id"] and allowed["project_id"]
    assert allowed["acting_as"] == {
        "cloud-2": f"reader@cloud-2 (application credential {world.reader.id})"
    }
    assert refused["status"] == 403 and refused["acting_as"] == {"cloud-3": "denied (no rule)"}
    text = caplog.text
    assert headers["X-Auth-Token"] not in text and world.reader.secret not in text


async def test_metrics_count_denials_per_issuer_and_target(
    make_federation: FederationFactory,
) -> None:
    world = await _world(make_federation)
    headers = await world.demo_headers()
    for _ in range(2):
        assert (await world.images(headers))[0] == 403
    async with world.fed.session.get(f"{world.fed.url}/metrics") as resp:
        text = await resp.text()
    assert 'openstackoid_identity_denials_total{issuer="cloud-1",target="cloud-2"} 2.0' in text


@pytest.mark.parametrize("allowed", [False, True])
async def test_nova_asking_glance_for_the_user_goes_through_the_users_mapping(
    make_federation: FederationFactory, allowed: bool
) -> None:
    """Nova of cloud-1 fetches the image from cloud-2's Glance with the user's token (through
    the proxy, without X-Scope): the user's mapping decides, not Nova's."""
    world = await _world(make_federation)
    if allowed:
        world.use(RULE)
    image_id = world.fed.bed.cloud("cloud-2").image_id
    server = {"server": {"name": "vm", "imageRef": image_id, "flavorRef": "2", "networks": "none"}}
    headers = await world.demo_headers()
    world.fed.bed.clear_requests()
    async with world.fed.session.post(
        f"{world.fed.url}/compute/v2.1/servers", json=server, headers=headers
    ) as resp:
        text = await resp.text()
    asked = [path for _, path in world.api_calls("cloud-2") if path.endswith(image_id)]
    if allowed:
        assert resp.status == 202, text
        assert asked
    else:
        assert resp.status >= 400, text
        assert asked == []
