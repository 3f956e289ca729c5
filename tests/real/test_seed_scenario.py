"""The seed scenario on real OpenStack (``make test-real``).

cloud-1 runs real Keystone, Glance, Nova (api, conductor, scheduler, compute with the fake
driver), Placement and Neutron; cloud-999 real Keystone and Glance. The real `openstack` CLI
talks to the proxy only; Nova of cloud-1 reaches Glance through the proxy because its
nova.conf says ``[glance] endpoint_override = <proxy>/image``, nothing else.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from openstackoid.cli_plugin.demo_real import (
    COMPUTE_CLOUD,
    IMAGE_CLOUD,
    SEED_ROLES,
    SEED_RULE,
    SEED_SCOPE,
    RealFederation,
    real_federation,
)
from openstackoid.testbed.cli_runner import run_openstack
from openstackoid.testbed.real.backing import CloudBacking, vhosts
from openstackoid.testbed.real.evidence import image_hop
from tests.real_venv import require_real_venv

# The first test also waits for the clouds: Nova's schemas alone take a minute on 2 cores.
pytestmark = [
    pytest.mark.real,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(900),
]
SERVER = "cirros1"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RealFederation]:
    require_real_venv(compute=True)
    async with real_federation(tmp_path_factory.mktemp("seed")) as federation:
        yield federation


async def user_cli(fed: RealFederation, *args: str) -> str:
    code, out, err = await run_openstack(
        "--os-cloud", "openstackoid", *args, clouds_yaml=fed.user_yaml
    )
    assert code == 0, f"openstack {' '.join(args)} failed: {err}"
    return out


async def test_server_from_cloud_999s_image_goes_active_in_cloud_1(fed: RealFederation) -> None:
    out = await user_cli(
        fed,
        *("server", "create", "--image", "cirros", "--flavor", "m1.small", "--nic", "none"),
        *("--scope", SEED_SCOPE, "--wait", "-f", "json", SERVER),
    )
    server = json.loads(out)
    assert server["status"] == "ACTIVE"
    image_id = fed.bed.cloud(IMAGE_CLOUD).image_id
    assert image_id in server["image"]
    assert fed.bed.cloud(COMPUTE_CLOUD).image_id not in server["image"]


async def test_novas_image_call_reached_cloud_999_with_the_proxys_token(
    fed: RealFederation,
) -> None:
    hop = image_hop(fed.bed, COMPUTE_CLOUD, IMAGE_CLOUD, fed.bed.cloud(IMAGE_CLOUD).image_id)
    assert hop.nova_calls, "cloud-999's Glance never saw Nova's GET /v2/images/{id}"
    assert hop.nova_reached_image_cloud
    assert hop.proxy_tokens and hop.registered_user is not None
    for call in hop.nova_calls:
        assert call.token in hop.proxy_tokens  # issued by cloud-999's Keystone to the proxy
        assert call.token not in hop.compute_cloud_tokens  # not the user's, not Nova's
        assert call.service_token is None  # Nova's X-Service-Token of cloud-1 stayed behind
        assert call.user_id == hop.registered_user
        # the user's mapped identity: the rule's application credential, reader only
        assert call.role_names == SEED_ROLES
    assert hop.with_proxy_token_only and hop.with_roles_only(SEED_ROLES)


async def test_cloud_1s_own_glance_never_saw_the_image_call(fed: RealFederation) -> None:
    hop = image_hop(fed.bed, COMPUTE_CLOUD, IMAGE_CLOUD, fed.bed.cloud(IMAGE_CLOUD).image_id)
    assert hop.own_glance_calls == ()
    # Nova's call went through the proxy, routed by the scope remembered for the user's token.
    image_path = f"/image/v2/images/{hop.image_id}"
    routed = [line for line in fed.proxy_access if line["path"] == image_path]
    assert routed and all(line["clouds"] == IMAGE_CLOUD for line in routed)


async def test_show_list_and_delete_through_the_proxy(fed: RealFederation) -> None:
    scoped = ("--os-scope", SEED_SCOPE)
    shown = json.loads(await user_cli(fed, *scoped, "server", "show", SERVER, "-f", "json"))
    assert shown["status"] == "ACTIVE" and shown["name"] == SERVER
    listed = json.loads(await user_cli(fed, *scoped, "server", "list", "-f", "json"))
    assert [server["Name"] for server in listed] == [SERVER]
    await user_cli(fed, *scoped, "server", "delete", "--wait", SERVER)
    assert json.loads(await user_cli(fed, *scoped, "server", "list", "-f", "json")) == []


async def test_without_the_operators_rule_the_user_gets_a_clear_refusal(
    fed: RealFederation,
) -> None:
    """The default is deny: no rule, no cross-cloud image, and no server from it."""
    rule = fed.rules.rule(SEED_RULE)
    assert rule is not None
    fed.rules.remove_rule(SEED_RULE)
    try:
        code, _, err = await run_openstack(
            "--os-cloud", "openstackoid", "server", "create", "--image", "cirros",
            "--flavor", "m1.small", "--nic", "none", "--scope", SEED_SCOPE, "--wait", "denied1",
            clouds_yaml=fed.user_yaml,
        )  # fmt: skip
    finally:
        fed.rules.upsert_rule(rule)
    assert code != 0
    assert "may not act at cloud 'cloud-999'" in err and "no mapping rule allows it" in err
    listed = json.loads(await user_cli(fed, "server", "list", "-f", "json", "--scope", SEED_SCOPE))
    assert "denied1" not in {server["Name"] for server in listed}


async def test_stop_drops_the_databases_and_the_vhost(fed: RealFederation) -> None:
    """Last: stops the clouds early (the fixture's own stop is then a no-op)."""
    bed = fed.bed
    backing = CloudBacking(bed.run_id, COMPUTE_CLOUD)
    databases = (await backing.sql("SHOW DATABASES")).split()
    assert any(name.startswith(backing.prefix) for name in databases)
    ports = [port for info in bed.clouds for port in info.ports]
    await bed.stop()
    databases = (await backing.sql("SHOW DATABASES")).split()
    assert not any(name.startswith(backing.prefix) for name in databases)
    assert backing.vhost not in await vhosts()
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0
