"""Clients with no openstackoid code, scoped by their auth_url alone: plain openstacksdk in
its own interpreter, and curl. Each result is checked against the clouds' request logs and,
for uploads, against the cloud itself."""

import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from openstackoid.cli import main
from openstackoid.testbed import admin_auth_body
from tests.e2e.url_scope_clients import (
    clouds_yaml,
    images_held_by,
    name_scope,
    run,
    served,
)
from tests.federation import FederationFactory

pytestmark = pytest.mark.e2e

SDK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import openstack
    conn = openstack.connect(cloud="fed")
    listed = [image.id for image in conn.image.images()]
    uploaded = conn.image.create_image(
        name="uploaded", data=b"x" * 1024, disk_format="raw", container_format="bare"
    )
    assert "cli_plugin" not in sys.modules, "this client must not load openstackoid"
    print(json.dumps({"listed": listed, "uploaded": uploaded.id}))
    """
)


async def _plain_sdk(config: Path) -> dict[str, object]:
    code, out, err = await run(
        sys.executable, "-c", SDK_SCRIPT, env={"OS_CLIENT_CONFIG_FILE": str(config)}
    )
    assert code == 0, err
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("segment", ["fed-c2", "keystone:cloud-1;glance:cloud-2"])
async def test_plain_openstacksdk_follows_the_url_scope(
    make_federation: FederationFactory, tmp_path: Path, segment: str
) -> None:
    fed = await make_federation(admin_token="admin-secret", default_scope="{*: cloud-3}")
    await name_scope(fed, "fed-c2", "keystone: cloud-1; glance: cloud-2")
    # The brace-free `scope:` beside it: loads in any openstacksdk, changes nothing here.
    config = clouds_yaml(
        tmp_path / "clouds.yaml",
        f"{fed.url}/scope/{segment}/identity/v3",
        fed.bed.cloud("cloud-1"),
        scope="keystone: cloud-1; glance: cloud-2",
    )
    result = await _plain_sdk(config)
    assert result["listed"] == [fed.bed.cloud("cloud-2").image_id]
    assert served(fed, "cloud-1", "/auth/tokens", "POST")
    assert served(fed, "cloud-2", "/image/v2/images", "POST")
    assert not served(fed, "cloud-1", "/image/") and not served(fed, "cloud-3", "/image/")
    held = await images_held_by(fed, "cloud-2")  # asked of cloud-2 itself
    assert held["uploaded"] == result["uploaded"]
    assert "uploaded" not in await images_held_by(fed, "cloud-3")  # not the default's


async def test_baked_clouds_yaml_scopes_plain_openstacksdk(
    make_federation: FederationFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`openstackoid scope bake` turns a `scope:` plain openstacksdk ignores into one it obeys."""
    fed = await make_federation(default_scope="{*: cloud-3}")
    scope = "keystone: cloud-1; glance: cloud-2"
    login = fed.bed.cloud("cloud-1")
    config = clouds_yaml(tmp_path / "clouds.yaml", f"{fed.url}/identity/v3", login, scope=scope)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(config))
    assert main(["scope", "bake", "--os-cloud", "fed"]) == 0
    result = await _plain_sdk(config)
    assert result["listed"] == [fed.bed.cloud("cloud-2").image_id]
    assert (await images_held_by(fed, "cloud-2"))["uploaded"] == result["uploaded"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_follows_the_catalog_of_a_url_scope(
    make_federation: FederationFactory, tmp_path: Path
) -> None:
    fed = await make_federation(default_scope="{*: cloud-3}")
    base = f"{fed.url}/scope/keystone:cloud-1;glance:cloud-2%7Ccloud-3"
    body = tmp_path / "auth.json"
    body.write_text(json.dumps(admin_auth_body(fed.bed.cloud("cloud-1"))))
    code, out, err = await run(
        "curl", "-sS", "-D", str(tmp_path / "headers"), "-H", "Content-Type: application/json",
        "--data-binary", f"@{body}", f"{base}/identity/v3/auth/tokens",
    )  # fmt: skip
    assert code == 0, err
    headers = dict(
        line.split(": ", 1) for line in (tmp_path / "headers").read_text().splitlines()[1:] if line
    )
    token = headers["X-Subject-Token"]
    assert headers["X-Openstackoid-Scope"] == "{identity: cloud-1; image: cloud-2 | cloud-3}"
    catalog = json.loads(out)["token"]["catalog"]
    image_url = next(s["endpoints"][0]["url"] for s in catalog if s["type"] == "image")
    assert image_url == f"{base}/image"  # the client's own form, kept
    auth = f"X-Auth-Token: {token}"
    code, out, err = await run("curl", "-sS", "-H", auth, f"{image_url}/v2/images")
    assert code == 0, err
    images = json.loads(out)
    assert "images" in images, out
    assert [i["id"] for i in images["images"]] == [fed.bed.cloud("cloud-2").image_id]
    assert served(fed, "cloud-2", "/image/v2/images") and not served(fed, "cloud-3", "/image/")
    # A typo in the URL: a 400 saying why, in OpenStack's shape, nothing reaches a cloud.
    fed.bed.clear_requests()
    code, out, err = await run("curl", "-sS", f"{fed.url}/scope/glance:clod-2%7C/image/v2/images")
    error = json.loads(out)["error"]
    assert error["code"] == 400 and "expected a cloud after the operator" in error["message"]
    assert not any(fed.bed.requests(c.name) for c in fed.bed.clouds)
