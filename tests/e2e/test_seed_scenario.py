"""The real openstack CLI and openstacksdk through the proxy in front of simulated clouds."""

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from openstackoid.cli_plugin import connect, scoped
from openstackoid.cli_plugin.demo import client_clouds_yaml
from openstackoid.testbed import Caller, Faults, admin_auth_body
from openstackoid.testbed.cli_runner import run_openstack
from tests.federation import Federation, FederationFactory

pytestmark = pytest.mark.e2e


async def _cli(clouds_yaml: Path, *args: str, env: dict[str, str] | None = None) -> object:
    code, out, err = await run_openstack(
        "--os-cloud", "openstackoid", *args, "-f", "json", clouds_yaml=clouds_yaml, env=env
    )
    assert code == 0, err
    return json.loads(out)


async def test_seed_scenario(make_federation: FederationFactory, tmp_path: Path) -> None:
    """Nova of cloud-1 boots cloud-4's image. The testbed's Nova asks for it as real Nova does
    (user's token, its own service token, request id; no X-Scope), so only the proxy's memory
    of the token's scope can send its call to cloud-4: the clouds' request logs prove it."""
    fed = await make_federation(clouds=4)
    bed = fed.bed
    clouds_yaml = client_clouds_yaml(fed.url, tmp_path / "client.yaml", bed.cloud("cloud-1"))
    server = await _cli(
        clouds_yaml,
        "server",
        "create",
        "--image",
        "cirros",
        "--flavor",
        "m1.small",
        "--scope",
        "{keystone: cloud-1; glance: cloud-4}",
        "--wait",
        "cirros1",
    )
    assert isinstance(server, dict)
    image_id = bed.cloud("cloud-4").image_id
    assert image_id in server["image"]
    admin_of = {name: Caller(name, "admin", "admin") for name in ("cloud-1", "cloud-4")}
    one, four = bed.requests("cloud-1"), bed.requests("cloud-4")
    # cloud-1: the user's own Keystone and Nova; its Glance never heard of the image.
    created = [r for r in one if r.method == "POST" and r.path == "/compute/v2.1/servers"]
    assert [r.caller for r in created] == [admin_of["cloud-1"]]
    assert not [r for r in one if r.path.startswith("/image")]
    # cloud-4: Nova's image check (the image, then glanceclient's schema), reached through the
    # proxy with a token of cloud-4's own (the proxy's credentials there, no service token).
    # (only Nova reads the schema; the CLI shows the image by id again afterwards)
    paths = [r.path for r in four]
    schema = paths.index("/image/v2/schemas/image")
    assert paths[schema - 1] == f"/image/v2/images/{image_id}"
    checks = four[schema - 1 : schema + 1]
    assert all(r.caller == admin_of["cloud-4"] and r.service_caller is None for r in checks)
    assert all("x-service-token" not in r.header_names for r in checks)
    # The CLI found the image by name at cloud-4 and nowhere else; cloud-2 and -3 saw nothing.
    assert any(r.path == "/image/v2/images" and "name=cirros" in r.query for r in four)
    assert not bed.requests("cloud-2") and not bed.requests("cloud-3")


async def test_nova_image_check_fails_without_the_proxy_s_memory(
    make_federation: FederationFactory,
) -> None:
    """The control experiment: a token the proxy never saw with a scope gets Nova's image
    check routed by the default scope, to a cloud without the image."""
    fed = await make_federation(clouds=4, default_scope="{*: cloud-1}")
    bed = fed.bed
    body = admin_auth_body(bed.cloud("cloud-1"))
    async with fed.session.post(bed.cloud("cloud-1").auth_url + "/auth/tokens", json=body) as r:
        token = r.headers["X-Subject-Token"]  # straight from cloud-1: the proxy never saw it
    server = {"server": {"name": "vm", "imageRef": bed.cloud("cloud-4").image_id, "flavorRef": "2"}}
    url = f"{fed.url}/compute/v2.1/servers"
    async with fed.session.post(url, json=server, headers={"X-Auth-Token": token}) as resp:
        assert resp.status == 400
        assert "could not be found" in (await resp.json())["badRequest"]["message"]
    assert not bed.requests("cloud-4")


async def test_fan_out_and_failover(make_federation: FederationFactory, tmp_path: Path) -> None:
    fed = await make_federation(clouds=3, default_scope="{*: cloud-1}")
    clouds_yaml = client_clouds_yaml(fed.url, tmp_path / "client.yaml", fed.bed.cloud("cloud-1"))
    images = await _cli(clouds_yaml, "image", "list", "--scope", "{glance: cloud-1 & cloud-2}")
    assert isinstance(images, list)
    assert {i["ID"] for i in images} == {fed.bed.cloud(n).image_id for n in ("cloud-1", "cloud-2")}
    await fed.bed.set_faults("cloud-2", Faults(outage=True))
    images = await _cli(clouds_yaml, "image", "list", "--scope", "{glance: cloud-2 | cloud-3}")
    assert [i["ID"] for i in images] == [fed.bed.cloud("cloud-3").image_id]  # type: ignore[index]


async def test_os_scope_env_and_clouds_yaml_scope(
    make_federation: FederationFactory, tmp_path: Path
) -> None:
    fed = await make_federation(clouds=3)
    # The user of cloud-2's Keystone logs in with cloud-2's own password.
    as_cloud_2 = client_clouds_yaml(fed.url, tmp_path / "two.yaml", fed.bed.cloud("cloud-2"))
    images = await _cli(
        as_cloud_2, "image", "list", env={"OS_SCOPE": "{keystone: cloud-2; glance: cloud-3}"}
    )
    assert [i["ID"] for i in images] == [fed.bed.cloud("cloud-3").image_id]  # type: ignore[index]
    clouds_yaml = client_clouds_yaml(fed.url, tmp_path / "client.yaml", fed.bed.cloud("cloud-1"))
    for scope in (
        {"keystone": "cloud-1", "glance": "cloud-2"},
        "{keystone: cloud-1; glance: cloud-2}",
    ):
        document = yaml.safe_load(clouds_yaml.read_text())
        document["clouds"]["openstackoid"]["scope"] = scope
        clouds_yaml.write_text(yaml.safe_dump(document))
        images = await _cli(clouds_yaml, "image", "list")
        assert [i["ID"] for i in images] == [fed.bed.cloud("cloud-2").image_id]  # type: ignore[index]


async def test_bad_scope_exits_2_with_the_caret_and_no_request(
    federation: Federation, tmp_path: Path
) -> None:
    clouds_yaml = client_clouds_yaml(
        federation.url, tmp_path / "client.yaml", federation.bed.cloud("cloud-1")
    )
    code, _, err = await run_openstack(
        "--os-cloud",
        "openstackoid",
        "image",
        "list",
        "--scope",
        "{glnce: cloud-1}",
        clouds_yaml=clouds_yaml,
    )
    assert code == 2
    assert "Did you mean 'glance'?" in err and "^" in err
    assert not any(federation.bed.requests(c.name) for c in federation.bed.clouds)


async def test_openstacksdk_connect_with_a_scope(
    federation: Federation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clouds_yaml = client_clouds_yaml(
        federation.url, tmp_path / "client.yaml", federation.bed.cloud("cloud-1")
    )
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml))
    bed = federation.bed

    def use_sdk() -> tuple[list[str], list[str]]:
        conn = connect(
            cloud="openstackoid",
            scope="{keystone: cloud-1; glance: cloud-2}",
        )
        first = [image.id for image in conn.image.images()]
        with scoped(conn, {"keystone": "cloud-1", "glance": "cloud-3"}):
            second = [image.id for image in conn.image.images()]
        conn.close()
        return first, second

    first, second = await asyncio.to_thread(use_sdk)
    assert first == [bed.cloud("cloud-2").image_id]
    assert second == [bed.cloud("cloud-3").image_id]


async def test_scope_check_asks_the_proxy(federation: Federation, tmp_path: Path) -> None:
    clouds_yaml = client_clouds_yaml(
        federation.url, tmp_path / "client.yaml", federation.bed.cloud("cloud-1")
    )
    rows = await _cli(clouds_yaml, "scope", "check", "{keystone: cloud-1; glance: cloud-2 | @edge}")
    assert isinstance(rows, list)
    plans = {row["Service"]: json.loads(row["Clouds (resolved by the proxy)"]) for row in rows}
    assert plans == {
        "identity": "cloud-1",
        "image": {"first_of": ["cloud-2", {"every": ["cloud-2", "cloud-3"]}]},
    }
    code, _, err = await run_openstack(
        "--os-cloud",
        "openstackoid",
        "scope",
        "check",
        "{glance: cloud-9}",
        clouds_yaml=clouds_yaml,
    )
    assert code == 1 and "cloud-9" in err
