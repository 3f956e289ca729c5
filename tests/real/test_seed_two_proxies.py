"""The seed scenario on real OpenStack through two proxy processes (``make test-real``).

Proxy A and proxy B share the registry and the operator's mapping rules in PostgreSQL and the
scope memory in Redis, as a fleet behind a load balancer does. The user's `openstack` CLI
talks to A only; cloud-1's real Nova asks for images through B only (its nova.conf says
``[glance] endpoint_override = <B>/image``). B never sees the user's request: it routes Nova's
scope-less call by the scope A remembered for the user's token in Redis, checks the caller at
cloud-1 and acts at cloud-999 with the identity the operator's rule maps the user to.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from openstackoid.cli_plugin.demo_real import (
    COMPUTE_CLOUD,
    IMAGE_CLOUD,
    SEED_ROLES,
    SEED_RULE,
    SEED_SCOPE,
    nova_calls_through_proxy,
)
from openstackoid.cli_plugin.demo_real_fleet import RealFleet, real_fleet
from openstackoid.registry.rule_store_postgres import PostgresRuleStore
from openstackoid.testbed.cli_runner import run_openstack
from openstackoid.testbed.real.evidence import image_hop
from tests.pg import private_schema
from tests.real_venv import require_real_venv
from tests.redis_prefix import private_prefix, scope_memory_url

pytestmark = [
    pytest.mark.real,
    pytest.mark.postgres,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(900),
]
SERVER = "fleet1"
REFUSAL = f"may not act at cloud '{IMAGE_CLOUD}'"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fleet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RealFleet]:
    require_real_venv(compute=True)
    async with private_schema("seed2") as dsn, private_prefix("seed2") as prefix:
        workdir = tmp_path_factory.mktemp("two-proxies")
        async with real_fleet(workdir, dsn, scope_memory_url(prefix)) as running:
            yield running


async def user_cli(clouds_yaml: Path, *args: str) -> str:
    code, out, err = await run_openstack(
        "--os-cloud", "openstackoid", *args, clouds_yaml=clouds_yaml
    )
    assert code == 0, f"openstack {' '.join(args)} failed: {err}"
    return out


async def test_user_on_proxy_a_nova_on_proxy_b_the_server_goes_active(fleet: RealFleet) -> None:
    out = await user_cli(
        fleet.user_yaml,
        *("server", "create", "--image", "cirros", "--flavor", "m1.small", "--nic", "none"),
        *("--scope", SEED_SCOPE, "--wait", "-f", "json", SERVER),
    )
    server = json.loads(out)
    assert server["status"] == "ACTIVE"
    assert fleet.bed.cloud(IMAGE_CLOUD).image_id in server["image"]


async def test_novas_image_call_reached_the_proxy_that_never_saw_the_user(
    fleet: RealFleet,
) -> None:
    image_path = f"/image/v2/images/{fleet.bed.cloud(IMAGE_CLOUD).image_id}"
    user_side, nova_side = fleet.access(0), fleet.access(1)
    created = [e for e in user_side if e["method"] == "POST" and e["path"].endswith("/servers")]
    assert len(created) == 1 and created[0]["clouds"] == COMPUTE_CLOUD
    # B saw Nova's image calls only: no token request, no server create, nothing but Glance.
    assert nova_side and {e["service"] for e in nova_side} == {"image"}, nova_side
    novas = [e for e in nova_side if e["path"] == image_path]
    assert novas and all(e["clouds"] == IMAGE_CLOUD and e["status"] == 200 for e in novas)
    # Nova passed the create's request id on: these are the calls of the user's create at A.
    assert {e["cloud_request_id"] for e in novas} == {created[0]["cloud_request_id"]}
    # A never relayed one of them.
    assert nova_calls_through_proxy(user_side) == []


async def test_cloud_999_saw_the_users_mapped_identity_and_cloud_1s_glance_nothing(
    fleet: RealFleet,
) -> None:
    bed = fleet.bed
    hop = image_hop(bed, COMPUTE_CLOUD, IMAGE_CLOUD, bed.cloud(IMAGE_CLOUD).image_id)
    assert hop.nova_reached_image_cloud
    assert hop.with_proxy_token_only  # a token cloud-999's Keystone issued to a proxy
    assert hop.with_roles_only(SEED_ROLES)  # the rule's application credential, never admin
    assert hop.own_glance_untouched


async def test_show_list_and_delete_answer_the_same_through_either_proxy(
    fleet: RealFleet,
) -> None:
    scoped = ("--os-scope", SEED_SCOPE)
    answers = []
    for clouds_yaml in (fleet.user_yaml, fleet.other_yaml):
        shown = json.loads(
            await user_cli(clouds_yaml, *scoped, "server", "show", SERVER, "-f", "json")
        )
        listed = json.loads(await user_cli(clouds_yaml, *scoped, "server", "list", "-f", "json"))
        answers.append((shown["id"], shown["status"], [s["Name"] for s in listed]))
    assert answers[0] == answers[1] and answers[0][1:] == ("ACTIVE", [SERVER])
    await user_cli(fleet.other_yaml, *scoped, "server", "delete", "--wait", SERVER)
    for clouds_yaml in (fleet.user_yaml, fleet.other_yaml):
        assert (
            json.loads(await user_cli(clouds_yaml, *scoped, "server", "list", "-f", "json")) == []
        )


async def test_a_rule_taken_away_in_postgresql_is_refused_by_both_proxies(
    fleet: RealFleet,
) -> None:
    """Last: the operator removes the seed rule once; every proxy follows it."""
    rule_store = await PostgresRuleStore(fleet.dsn).open()
    try:
        assert await rule_store.delete_rule(SEED_RULE)
    finally:
        await rule_store.close()
    for clouds_yaml in (fleet.user_yaml, fleet.other_yaml):
        async with asyncio.timeout(30):  # each proxy hears the change through LISTEN/NOTIFY
            while True:
                code, _, err = await run_openstack(
                    "--os-cloud", "openstackoid", "image", "show", "cirros",
                    "--os-scope", SEED_SCOPE, clouds_yaml=clouds_yaml,
                )  # fmt: skip
                if code != 0:
                    break
                await asyncio.sleep(0.5)
        assert REFUSAL in err and "no mapping rule allows it" in err, err
