"""Each simulated Keystone: its own credentials, users with roles, application credentials
and revocation, driven over HTTP and by the real `openstack` CLI."""

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from openstackoid.testbed import SimCloudInfo, Testbed, admin_auth_body
from openstackoid.testbed.cli_runner import run_openstack
from openstackoid.testbed.pytest_plugin import TestbedFactory


async def _login(
    session: aiohttp.ClientSession, cloud: SimCloudInfo, body: dict[str, Any]
) -> tuple[int, str | None, Any]:
    async with session.post(f"{cloud.auth_url}/auth/tokens", json=body) as resp:
        return resp.status, resp.headers.get("X-Subject-Token"), await resp.json()


def _password_body(name: str, password: str, project: str | None = "admin") -> dict[str, Any]:
    identity = {
        "methods": ["password"],
        "password": {"user": {"name": name, "domain": {"id": "default"}, "password": password}},
    }
    auth: dict[str, Any] = {"identity": identity}
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return {"auth": auth}


async def test_each_cloud_accepts_only_its_own_credentials(testbed: Testbed) -> None:
    one, two, three = (testbed.cloud(f"cloud-{n}") for n in (1, 2, 3))
    assert len({one.password, two.password, three.password}) == 3
    async with aiohttp.ClientSession() as session:
        status, token, body = await _login(session, three, admin_auth_body(three))
        assert status == 201 and token
        assert (
            body["token"]["project"]["id"] == testbed.keystone("cloud-3").find_project("admin").id
        )  # type: ignore[union-attr]
        assert {r["name"] for r in body["token"]["roles"]} == {"admin", "member", "reader"}
        # cloud-2's admin credentials are no good at cloud-3, nor is a guessed password.
        for wrong in (admin_auth_body(two), _password_body("admin", "secret")):
            status, token, body = await _login(session, three, wrong)
            assert status == 401 and token is None
            assert body["error"]["code"] == 401
        # Nor is a project the user has no role on.
        nova_project = _password_body("admin", three.password, project="service")
        assert (await _login(session, three, nova_project))[0] == 401
    # Ids are each cloud's own.
    admins = {testbed.keystone(n).find_user("admin").id for n in ("cloud-1", "cloud-2")}  # type: ignore[union-attr]
    assert len(admins) == 2


async def test_revoked_token_is_gone(testbed: Testbed) -> None:
    cloud = testbed.cloud("cloud-1")
    async with aiohttp.ClientSession() as session:
        _, admin, _ = await _login(session, cloud, admin_auth_body(cloud))
        _, doomed, _ = await _login(session, cloud, admin_auth_body(cloud))
        assert admin and doomed
        url = f"{cloud.auth_url}/auth/tokens"
        headers = {"X-Auth-Token": admin, "X-Subject-Token": doomed}
        async with session.get(url, headers=headers) as resp:
            assert resp.status == 200
        async with session.delete(url, headers=headers) as resp:
            assert resp.status == 204
        async with session.get(url, headers=headers) as resp:
            assert resp.status == 404
        images = f"{cloud.endpoints['image']}/v2/images"
        async with session.get(images, headers={"X-Auth-Token": doomed}) as resp:
            assert resp.status == 401


def _entry(cloud: SimCloudInfo, auth: dict[str, Any], auth_type: str = "password") -> Any:
    return {
        "auth_type": auth_type,
        "auth": {"auth_url": cloud.auth_url, **auth},
        "region_name": "RegionOne",
        "identity_api_version": 3,
    }


async def _cli(clouds_yaml: Path, cloud: str, *args: str) -> Any:
    code, out, err = await run_openstack(
        "--os-cloud", cloud, *args, "-f", "json", clouds_yaml=clouds_yaml
    )
    assert code == 0, err
    return json.loads(out) if out.strip() else None


async def _do(clouds_yaml: Path, cloud: str, *args: str) -> None:
    """A command that prints nothing (role add, delete, revoke)."""
    code, _, err = await run_openstack("--os-cloud", cloud, *args, clouds_yaml=clouds_yaml)
    assert code == 0, err


async def _cli_fails(clouds_yaml: Path, cloud: str, *args: str) -> str:
    code, _, err = await run_openstack("--os-cloud", cloud, *args, clouds_yaml=clouds_yaml)
    assert code != 0
    return err


@pytest.mark.e2e
async def test_users_roles_and_application_credentials_with_the_real_cli(
    testbed: Testbed, tmp_path: Path
) -> None:
    cloud = testbed.cloud("cloud-1")
    clouds_yaml = testbed.write_clouds_yaml(tmp_path / "clouds.yaml")
    project = await _cli(clouds_yaml, "cloud-1", "project", "create", "demo")
    user = await _cli(
        clouds_yaml,
        "cloud-1",
        *("user", "create", "--project", "demo", "--password", "demo-pw", "demo"),
    )
    assert user["default_project_id"] == project["id"]
    await _do(
        clouds_yaml, "cloud-1", "role", "add", "--project", "demo", "--user", "demo", "member"
    )

    document = yaml.safe_load(clouds_yaml.read_text())
    document["clouds"]["demo"] = _entry(
        cloud,
        {
            "username": "demo",
            "password": "demo-pw",
            "project_name": "demo",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
    )
    clouds_yaml.write_text(yaml.safe_dump(document))
    # A member of demo: no user list (Keystone's 403), but images of its own.
    assert "403" in await _cli_fails(clouds_yaml, "demo", "user", "list")
    image = await _cli(clouds_yaml, "demo", "image", "create", "demo-image")
    assert image["owner"] == project["id"]
    cred = await _cli(
        clouds_yaml,
        "demo",
        *("application", "credential", "create", "--role", "reader"),
        *("--secret", "reader-secret", "readonly"),
    )
    assert cred["Project ID"] == project["id"]
    assert [r["name"] for r in cred["Roles"]] == ["reader"]

    document["clouds"]["readonly"] = _entry(
        cloud,
        {"application_credential_id": cred["ID"], "application_credential_secret": "reader-secret"},
        "v3applicationcredential",
    )
    clouds_yaml.write_text(yaml.safe_dump(document))
    # The application credential's token has its own limited role: it reads, never deletes.
    names = {i["Name"] for i in await _cli(clouds_yaml, "readonly", "image", "list")}
    assert names == {"cirros", "demo-image"}
    assert "403" in await _cli_fails(clouds_yaml, "readonly", "image", "delete", image["id"])
    listed = await _cli(clouds_yaml, "demo", "application", "credential", "list")
    assert [c["Name"] for c in listed] == ["readonly"]
    await _do(clouds_yaml, "demo", "application", "credential", "delete", "readonly")
    assert "401" in await _cli_fails(clouds_yaml, "readonly", "image", "list")
    await _do(clouds_yaml, "demo", "image", "delete", image["id"])


@pytest.mark.e2e
async def test_token_revoke_with_the_real_cli(testbed: Testbed, tmp_path: Path) -> None:
    cloud = testbed.cloud("cloud-2")
    clouds_yaml = testbed.write_clouds_yaml(tmp_path / "clouds.yaml")
    issued = await _cli(clouds_yaml, "cloud-2", "token", "issue")
    token = issued["id"]
    await _do(clouds_yaml, "cloud-2", "token", "revoke", token)
    async with aiohttp.ClientSession() as session:
        _, admin, _ = await _login(session, cloud, admin_auth_body(cloud))
        headers = {"X-Auth-Token": str(admin), "X-Subject-Token": token}
        async with session.get(f"{cloud.auth_url}/auth/tokens", headers=headers) as resp:
            assert resp.status == 404
    assert any(
        r.method == "DELETE" and r.path == "/identity/v3/auth/tokens"
        for r in testbed.requests("cloud-2")
    )


async def test_application_credential_token_over_http(testbed: Testbed) -> None:
    """What another helper's identity mapping builds on: a user with a role, an application
    credential with fewer roles, a token carrying only those."""
    keystone = testbed.keystone("cloud-3")
    project = keystone.add_project("edge")
    user = keystone.add_user("alice", "alice-pw", project.id)
    keystone.grant(user.id, project.id, "member")
    cred, secret = keystone.add_app_credential(user.id, project.id, "ro", roles=["reader"])
    cloud = testbed.cloud("cloud-3")
    body = {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": cred.id, "secret": secret},
            }
        }
    }
    async with aiohttp.ClientSession() as session:
        status, token, answer = await _login(session, cloud, body)
        assert status == 201 and token
        assert [r["name"] for r in answer["token"]["roles"]] == ["reader"]
        assert answer["token"]["application_credential"]["id"] == cred.id
        assert answer["token"]["project"]["id"] == project.id
        body["auth"]["identity"]["application_credential"]["secret"] = "wrong"
        assert (await _login(session, cloud, body))[0] == 401
        # The user itself has member (and the reader it implies).
        status, _, answer = await _login(
            session, cloud, _password_body("alice", "alice-pw", "edge")
        )
        assert {r["name"] for r in answer["token"]["roles"]} == {"member", "reader"}


async def test_clouds_spread_over_testbeds_share_identity_by_signed_tokens(
    make_testbed: TestbedFactory,
) -> None:
    """Two testbeds (as two processes would) holding one signing key: a token of the first
    one's cloud-1 opens the second one's cloud-3, as fernet tokens do across Keystone nodes;
    a forged or revoked one does not."""
    key = b"k" * 32
    one = await make_testbed(clouds=2, shared_identity=True, signing_key=key)
    other = await make_testbed(clouds=2, shared_identity=True, signing_key=key, first=3)
    assert [c.name for c in other.clouds] == ["cloud-3", "cloud-4"]
    stranger = await make_testbed(clouds=1, shared_identity=True, signing_key=b"x" * 32)
    async with aiohttp.ClientSession() as session:
        _, token, _ = await _login(
            session, one.cloud("cloud-1"), admin_auth_body(one.cloud("cloud-1"))
        )
        assert token
        images = f"{other.cloud('cloud-3').endpoints['image']}/v2/images"
        async with session.get(images, headers={"X-Auth-Token": token}) as resp:
            assert resp.status == 200
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        async with session.get(images, headers={"X-Auth-Token": forged}) as resp:
            assert resp.status == 401
        elsewhere = f"{stranger.cloud('cloud-1').endpoints['image']}/v2/images"
        async with session.get(elsewhere, headers={"X-Auth-Token": token}) as resp:
            assert resp.status == 401
        auth = f"{other.cloud('cloud-3').auth_url}/auth/tokens"
        headers = {"X-Auth-Token": token, "X-Subject-Token": token}
        async with session.delete(auth, headers=headers) as resp:
            assert resp.status == 204
        async with session.get(images, headers={"X-Auth-Token": token}) as resp:
            assert resp.status == 401
