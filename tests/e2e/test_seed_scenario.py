"""The real openstack CLI and openstacksdk through the proxy in front of simulated clouds."""

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from cli_plugin import connect, scoped
from cli_plugin.demo import client_clouds_yaml
from testbed import Faults
from testbed.cli_runner import run_openstack
from tests.federation import Federation, FederationFactory

pytestmark = pytest.mark.e2e


async def _cli(clouds_yaml: Path, *args: str, env: dict[str, str] | None = None) -> object:
    code, out, err = await run_openstack(
        "--os-cloud", "openstackoid", *args, "-f", "json", clouds_yaml=clouds_yaml, env=env
    )
    assert code == 0, err
    return json.loads(out)


async def test_seed_scenario(make_federation: FederationFactory, tmp_path: Path) -> None:
    fed = await make_federation(clouds=4)
    clouds_yaml = client_clouds_yaml(fed.url, tmp_path / "client.yaml")
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
    assert fed.bed.cloud("cloud-4").image_id in server["image"]
    assert any(r.method == "POST" for r in fed.bed.requests("cloud-1") if "servers" in r.path)
    # X-Scope travelled on the token request and on discovery, not only on API calls: they
    # reached the clouds it names. The proxy keeps the header (issue 15): no cloud sees it.
    token_requests = [
        r
        for r in fed.bed.requests("cloud-1")
        if r.path == "/identity/v3/auth/tokens" and r.method == "POST"
    ]
    assert token_requests and all(r.scope is None for r in token_requests)
    discovery = [r for r in fed.bed.requests("cloud-4") if r.path == "/image"]
    assert discovery and discovery[0].scope is None


async def test_fan_out_and_failover(make_federation: FederationFactory, tmp_path: Path) -> None:
    fed = await make_federation(clouds=3, default_scope="{*: cloud-1}")
    clouds_yaml = client_clouds_yaml(fed.url, tmp_path / "client.yaml")
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
    clouds_yaml = client_clouds_yaml(fed.url, tmp_path / "client.yaml")
    images = await _cli(
        clouds_yaml, "image", "list", env={"OS_SCOPE": "{keystone: cloud-2; glance: cloud-3}"}
    )
    assert [i["ID"] for i in images] == [fed.bed.cloud("cloud-3").image_id]  # type: ignore[index]
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
    clouds_yaml = client_clouds_yaml(federation.url, tmp_path / "client.yaml")
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
    clouds_yaml = client_clouds_yaml(federation.url, tmp_path / "client.yaml")
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
    clouds_yaml = client_clouds_yaml(federation.url, tmp_path / "client.yaml")
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
