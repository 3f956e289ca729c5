"""Identity across real clouds (Keystone 30 + Glance 33, `make test-real`), driven by the
real openstack CLI through the proxy.

cloud-1 holds user `demo`, `member` of project `demo` and nothing more. cloud-3 holds an
image of its admin and an application credential limited to `reader`. cloud-3 sits behind a
recording relay: what it saw is what the relay passed on.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import yaml

from openstackoid.proxy import ProxyConfig, running_proxy
from openstackoid.registry import Cloud, Registry, RuleBook, load_clouds_yaml
from openstackoid.registry.rules import credential_from_data, rule_from_data
from openstackoid.testbed.cli_runner import run_openstack
from openstackoid.testbed.real import RealTestbed
from tests.identity.keystone_admin import AppCredential, KeystoneAdmin, issue, token_status
from tests.identity.relay import Relay, relaying
from tests.real_venv import require_real_venv

pytestmark = [pytest.mark.real, pytest.mark.asyncio(loop_scope="module")]

DEMO_PASSWORD = "demo-pw"
SCOPE = "{keystone: cloud-1; glance: cloud-3}"
CACHE_SECONDS = 2.0
"""The proxy's token_cache_seconds in these tests: the revocation bound they check."""
RULE = {
    "name": "cloud1-members-read-cloud3",
    "match": {"issuer": "cloud-1", "roles": "member"},
    "targets": "cloud-3",
    "credential": "reader",
}


@dataclass
class World:
    bed: RealTestbed
    registry: Registry
    relay: Relay
    reader: AppCredential
    image_id: str
    group_id: str
    """A group of cloud-1 that `demo` belongs to."""
    http: aiohttp.ClientSession

    def rules(self, *rules: dict[str, Any]) -> RuleBook:
        credential = {
            "cloud": "cloud-3",
            "name": "reader",
            "application_credential_id": self.reader.id,
            "application_credential_secret": self.reader.secret,
        }
        return RuleBook([rule_from_data(r) for r in rules], [credential_from_data(credential)])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world() -> AsyncIterator[World]:
    require_real_venv()
    bed = RealTestbed(clouds=3)
    await bed.start()
    try:
        async with aiohttp.ClientSession() as http:
            one, _, three = bed.clouds
            admin1 = await KeystoneAdmin.login(http, one.auth_url, "admin", one.password, "admin")
            project = await admin1.project("demo")
            user = await admin1.user("demo", DEMO_PASSWORD, project)
            await admin1.grant(project, user, "member")
            group_id = await admin1.group("federated", [user])
            admin3 = await KeystoneAdmin.login(
                http, three.auth_url, "admin", three.password, "admin"
            )
            reader = await admin3.application_credential("openstackoid-reader", ["reader"])
            image = {"name": "c3-image", "disk_format": "raw", "container_format": "bare"}
            async with http.post(
                f"{three.endpoints['image']}/v2/images",
                json=image,
                headers={"X-Auth-Token": admin3.token},
            ) as resp:
                assert resp.status == 201
                image_id = (await resp.json())["id"]
            clouds = {c.name: c for c in load_clouds_yaml(bed.write_clouds_yaml(_tmp(bed)))}
            origin = three.endpoints["image"].removesuffix("/image")
            keystone = three.auth_url.removesuffix("/identity/v3")
            async with (
                relaying(origin) as (relay, image_url),
                relaying(keystone) as (
                    key_relay,
                    key_url,
                ),
            ):
                key_relay.seen = relay.seen  # one record of everything cloud-3 saw
                key_relay.with_token = relay.with_token
                clouds["cloud-3"] = Cloud(
                    "cloud-3",
                    f"{key_url}/identity/v3",
                    endpoints={"identity": f"{key_url}/identity/v3", "image": f"{image_url}/image"},
                    credentials=clouds["cloud-3"].credentials,
                )
                registry = Registry(clouds.values())
                yield World(bed, registry, relay, reader, image_id, group_id, http)
    finally:
        await bed.stop()


def _tmp(bed: RealTestbed) -> Path:
    assert bed._root is not None
    return bed._root / "clouds.yaml"


def _user_yaml(proxy_url: str, path: Path) -> Path:
    cloud = {
        "auth": {
            "auth_url": f"{proxy_url}/identity/v3",
            "username": "demo",
            "password": DEMO_PASSWORD,
            "project_name": "demo",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "identity_api_version": 3,
    }
    path.write_text(yaml.safe_dump({"clouds": {"openstackoid": cloud}}))
    return path


async def _cli(clouds_yaml: Path, *args: str) -> tuple[int, str, str]:
    return await run_openstack(
        "--os-cloud", "openstackoid", "--os-scope", SCOPE, *args, clouds_yaml=clouds_yaml
    )


def _proxy(world: World, book: RuleBook) -> Any:
    config = ProxyConfig(token_cache_seconds=CACHE_SECONDS)
    return running_proxy(config, world.registry, rules=book)


async def test_a_member_without_a_rule_is_refused_and_cloud3_sees_nothing(
    world: World, tmp_path: Path
) -> None:
    world.relay.seen.clear()
    world.relay.with_token.clear()
    async with _proxy(world, world.rules()) as url:
        code, _, err = await _cli(_user_yaml(url, tmp_path / "u.yaml"), "image", "list")
    assert code != 0
    assert "403" in err, err
    assert "may not act at cloud 'cloud-3'" in " ".join(err.split()) and "demo" in err
    # Only the client's anonymous version discovery got through: no token, no API call.
    assert world.relay.with_token == [] and set(world.relay.seen) <= {("GET", "/image")}


async def test_a_rule_maps_member_to_cloud3_reader(world: World, tmp_path: Path) -> None:
    world.relay.seen.clear()
    async with _proxy(world, world.rules(RULE)) as url:
        user_yaml = _user_yaml(url, tmp_path / "u.yaml")
        code, out, err = await _cli(user_yaml, "image", "list", "-f", "json")
        assert code == 0, err
        assert "c3-image" in [image["Name"] for image in json.loads(out)]
        code, _, err = await _cli(user_yaml, "image", "delete", world.image_id)
    assert code != 0 and "403" in err, err  # cloud-3's own refusal: a reader deletes nothing
    assert ("DELETE", f"/image/v2/images/{world.image_id}") in world.relay.seen
    assert not any(path.endswith("/auth/tokens") and m == "GET" for m, path in world.relay.seen)


async def test_a_revoked_token_stops_working_across_clouds_within_the_bound(
    world: World, tmp_path: Path
) -> None:
    one = world.bed.clouds[0]
    token = await issue(world.http, one.auth_url, "demo", DEMO_PASSWORD, "demo")
    headers = {"X-Auth-Token": token, "X-Scope": SCOPE}
    async with _proxy(world, world.rules(RULE)) as url:
        images = f"{url}/image/v2/images"
        async with world.http.get(images, headers=headers) as resp:
            assert resp.status == 200
        revoker = tmp_path / "cloud-1.yaml"
        world.bed.write_clouds_yaml(revoker)
        code, _, err = await run_openstack(
            "--os-cloud", "cloud-1", "token", "revoke", token, clouds_yaml=revoker
        )
        assert code == 0, err
        assert await token_status(world.http, one.auth_url, token) in (401, 404)
        revoked_at = time.monotonic()
        while True:  # the refusal is the event; the bound is what the test holds
            async with world.http.get(images, headers=headers) as resp:
                status = resp.status
            if status == 401:
                break
            assert status == 200
            assert time.monotonic() - revoked_at < CACHE_SECONDS + 5, "still served"
            await asyncio.sleep(0.2)


async def test_a_cloud1_token_with_a_cloud2_identity_is_always_refused(world: World) -> None:
    one = world.bed.clouds[0]
    token = await issue(world.http, one.auth_url, "demo", DEMO_PASSWORD, "demo")
    async with _proxy(world, world.rules(RULE)) as url:
        images = f"{url}/image/v2/images"
        async with world.http.get(images, headers={"X-Auth-Token": token, "X-Scope": SCOPE}) as r:
            assert r.status == 200  # validated at cloud-1 and kept
        foreign = {"X-Auth-Token": token, "X-Scope": "{keystone: cloud-2; glance: cloud-3}"}
        for _ in range(3):
            async with world.http.get(images, headers=foreign) as resp:
                assert resp.status == 401


async def test_rules_on_groups_learn_them_from_the_issuer(world: World) -> None:
    """Keystone names no groups in a local user's token: the proxy asks cloud-1 with the
    caller's own token, and a deny rule on the group wins over the role rule."""
    one = world.bed.clouds[0]
    token = await issue(world.http, one.auth_url, "demo", DEMO_PASSWORD, "demo")
    headers = {"X-Auth-Token": token, "X-Scope": SCOPE}
    by_group = {
        **RULE,
        "name": "group-reads",
        "match": {"issuer": "cloud-1", "groups": world.group_id},
    }
    async with _proxy(world, world.rules(by_group)) as url:
        async with world.http.get(f"{url}/image/v2/images", headers=headers) as resp:
            assert resp.status == 200
    deny = {"name": "not-this-group", "priority": 1, "targets": "cloud-3", "deny": True,
            "match": {"issuer": "cloud-1", "groups": {"any_one_of": [world.group_id]}}}  # fmt: skip
    async with _proxy(world, world.rules(RULE, deny)) as url:
        async with world.http.get(f"{url}/image/v2/images", headers=headers) as resp:
            assert resp.status == 403
            assert "'not-this-group' denies it" in (await resp.json())["error"]["message"]
