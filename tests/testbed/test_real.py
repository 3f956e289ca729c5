"""Real Keystone and Glance from PyPI, driven by the real openstack CLI (``make test-real``).

The tests marked ``real`` start gunicorn servers from .venv-real and skip when it is missing;
the others check the config and the clouds.yaml the real testbed writes, without servers.
"""

import configparser
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from openstackoid.cli_plugin.demo import client_clouds_yaml
from openstackoid.proxy import ProxyConfig, running_proxy
from openstackoid.registry import Registry, load_clouds_yaml
from openstackoid.testbed.cli_runner import run_openstack
from openstackoid.testbed.real import RealCloudInfo, RealTestbed, RealTestbedError, RealVenvMissing
from openstackoid.testbed.real.config import CloudDirs, glance_conf, keystone_conf
from tests.federation import fleet_admins
from tests.real_venv import require_real_venv

real = pytest.mark.real
module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bed() -> AsyncIterator[RealTestbed]:
    require_real_venv()
    testbed = RealTestbed(clouds=2)
    await testbed.start()
    yield testbed
    await testbed.stop()


@pytest.fixture
def clouds_yaml(bed: RealTestbed, tmp_path: Path) -> Path:
    return bed.write_clouds_yaml(tmp_path / "clouds.yaml")


async def cli(cloud: str, clouds_yaml: Path, *args: str) -> str:
    code, out, err = await run_openstack("--os-cloud", cloud, *args, clouds_yaml=clouds_yaml)
    assert code == 0, f"openstack {' '.join(args)} on {cloud} failed: {err}"
    return out


async def image_names(cloud: str, clouds_yaml: Path, *args: str) -> list[str]:
    listed = json.loads(await cli(cloud, clouds_yaml, *args, "image", "list", "-f", "json"))
    return [image["Name"] for image in listed]


def _refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


# --- without servers -------------------------------------------------------------------


async def test_missing_venv_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RealVenvMissing, match="make real-venv"):
        await RealTestbed(clouds=1, venv=tmp_path / "nowhere").start()


def test_config_files_parse_and_point_into_the_cloud_dir(tmp_path: Path) -> None:
    dirs = CloudDirs(tmp_path / "cloud-1")
    keystone = configparser.ConfigParser()
    keystone.read_string(keystone_conf(dirs))
    assert keystone["database"]["connection"] == f"sqlite:///{dirs.keystone_db}"
    assert keystone["fernet_tokens"]["key_repository"] == str(dirs.fernet_keys)
    glance = configparser.ConfigParser()
    glance.read_string(glance_conf(dirs, "http://127.0.0.1:5/identity", Path("/p.ini")))
    assert glance["DEFAULT"]["enabled_backends"] == "fs:file"
    assert glance["fs"]["filesystem_store_datadir"] == str(dirs.images)
    assert glance["keystone_authtoken"]["auth_url"] == "http://127.0.0.1:5/identity"
    assert glance["paste_deploy"]["flavor"] == "keystone"


def test_cloud_info_follows_the_url_layout() -> None:
    info = RealCloudInfo("cloud-2", 2, "127.0.0.1", 5000, 9292)
    assert info.auth_url == "http://127.0.0.1:5000/identity/v3"
    assert info.endpoints == {
        "identity": "http://127.0.0.1:5000/identity/v3",
        "image": "http://127.0.0.1:9292/image",
    }
    assert info.ports == (5000, 9292) and info.port == 5000
    assert info.labels == {"region": "us", "tier": "edge", "site": "cloud-2"}


def test_zero_clouds_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RealTestbed(clouds=0)


# --- real servers ----------------------------------------------------------------------
# A short-lived one-cloud bed first, so at most two clouds ever run at once.


@real
async def test_context_manager_starts_and_stop_frees_ports_and_files() -> None:
    require_real_venv()
    async with RealTestbed(clouds=1) as testbed:
        (info,) = testbed.clouds
        root = testbed._root
        assert root is not None and root.is_dir()
        async with aiohttp.ClientSession() as http:
            async with http.get(info.auth_url) as response:
                assert response.status == 200
                assert (await response.json())["version"]["id"].startswith("v3.")
    assert all(_refuses(port) for port in info.ports)
    assert not root.exists()
    assert testbed.clouds == []


@real
@module_loop
async def test_registry_reads_the_written_clouds_yaml(bed: RealTestbed, clouds_yaml: Path) -> None:
    clouds = load_clouds_yaml(clouds_yaml)
    assert [cloud.name for cloud in clouds] == ["cloud-1", "cloud-2"]
    for cloud, info in zip(clouds, bed.clouds, strict=True):
        assert cloud.auth_url == info.auth_url
        assert dict(cloud.endpoints) == info.endpoints


@real
@module_loop
async def test_token_issue_on_each_cloud(bed: RealTestbed, clouds_yaml: Path) -> None:
    tokens = [
        json.loads(await cli(info.name, clouds_yaml, "token", "issue", "-f", "json"))
        for info in bed.clouds
    ]
    assert all(token["id"].startswith("gAAAA") for token in tokens)  # fernet
    # Independent Keystones: each bootstrapped its own admin project.
    assert tokens[0]["project_id"] != tokens[1]["project_id"]


@real
@module_loop
async def test_catalog_lists_identity_and_image(bed: RealTestbed, clouds_yaml: Path) -> None:
    info = bed.clouds[1]
    out = await cli(info.name, clouds_yaml, "catalog", "list", "-f", "json")
    catalog = {entry["Type"]: entry for entry in json.loads(out)}
    assert set(catalog) == {"identity", "image"}
    assert info.endpoints["image"] in json.dumps(catalog["image"])


@real
@module_loop
async def test_image_create_list_and_save_per_cloud(
    bed: RealTestbed, clouds_yaml: Path, tmp_path: Path
) -> None:
    for info in bed.clouds:
        data = tmp_path / f"{info.name}.raw"
        data.write_bytes(info.name.encode() * 50_000)
        out = await cli(
            info.name,
            clouds_yaml,
            *("image", "create", "--disk-format", "raw", "--container-format", "bare"),
            *("--file", str(data), "-f", "json", f"disk-of-{info.name}"),
        )
        image = json.loads(out)
        assert image["status"] == "active"
        assert image["size"] == data.stat().st_size
        saved = tmp_path / f"{info.name}.saved"
        await cli(info.name, clouds_yaml, "image", "save", "--file", str(saved), image["id"])
        assert saved.read_bytes() == data.read_bytes()
    names = [await image_names(info.name, clouds_yaml) for info in bed.clouds]
    # Each Glance holds only the image created in it.
    assert "disk-of-cloud-1" in names[0] and "disk-of-cloud-1" not in names[1]
    assert "disk-of-cloud-2" in names[1] and "disk-of-cloud-2" not in names[0]


@real
@module_loop
async def test_token_of_one_cloud_is_rejected_by_another(
    bed: RealTestbed, clouds_yaml: Path
) -> None:
    first, second = bed.clouds
    token = await cli(first.name, clouds_yaml, "token", "issue", "-f", "value", "-c", "id")
    token = token.strip()
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{first.auth_url}/auth/tokens", headers=headers) as response:
            assert response.status == 200
        async with http.get(f"{second.auth_url}/auth/tokens", headers=headers) as response:
            assert response.status == 401
        # Glance asks its own Keystone, so the foreign token is refused there as well.
        image_url = f"{second.endpoints['image']}/v2/images"
        async with http.get(image_url, headers={"X-Auth-Token": token}) as response:
            assert response.status == 401


def _fake_venv(root: Path, keystone_manage: str) -> Path:
    """A venv whose commands are shell scripts: checks the failure path without real services."""
    (root / "bin").mkdir(parents=True)
    (root / "etc" / "glance").mkdir(parents=True)
    (root / "etc" / "glance" / "glance-api-paste.ini").write_text("")
    scripts = {"gunicorn": "exit 3", "glance-manage": "exit 0", "keystone-manage": keystone_manage}
    for name, body in scripts.items():
        script = root / "bin" / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    return root


async def test_a_failing_command_reports_its_log_and_cleans_up(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path / "venv", 'echo "no such table: boom" >&2; exit 1')
    testbed = RealTestbed(clouds=1, venv=venv)
    with pytest.raises(RealTestbedError, match=r"keystone-manage db_sync exited with 1(.|\n)*boom"):
        await testbed.start()
    assert testbed._root is None and testbed.clouds == []


async def test_a_server_that_dies_at_start_is_reported(tmp_path: Path) -> None:
    # keystone-manage "works" but creates no database file, so copy it ourselves first.
    venv = _fake_venv(
        tmp_path / "venv",
        'for a; do case "$a" in --config-file=*) d=$(dirname "${a#*=}");; esac; done; '
        'touch "$d/keystone.sqlite" "$d/glance.sqlite"',
    )
    testbed = RealTestbed(clouds=1, venv=venv)
    with pytest.raises(RealTestbedError, match="stopped while starting"):
        await testbed.start()
    assert testbed._root is None


@real
@module_loop
async def test_proxy_routes_keystone_and_glance_to_different_real_clouds(
    bed: RealTestbed, clouds_yaml: Path, tmp_path: Path
) -> None:
    """The user authenticates at cloud-1's Keystone and uploads to cloud-2's Glance."""
    registry = Registry(load_clouds_yaml(clouds_yaml))
    rules = fleet_admins(registry)  # explicitly: cloud-1's admin acts as cloud-2's admin
    async with running_proxy(ProxyConfig(), registry, rules=rules) as url:
        user_yaml = client_clouds_yaml(url, tmp_path / "user.yaml")
        data = tmp_path / "via-proxy.raw"
        data.write_bytes(b"\x5a" * 100_000)
        scope = "{keystone: cloud-1; glance: cloud-2}"
        out = await cli(
            "openstackoid",
            user_yaml,
            *("--os-scope", scope, "image", "create", "--disk-format", "raw"),
            *("--container-format", "bare", "--file", str(data), "-f", "json", "via-proxy"),
        )
        assert json.loads(out)["size"] == 100_000
        assert "via-proxy" in await image_names("openstackoid", user_yaml, "--os-scope", scope)
    # Asked directly, only cloud-2's Glance has the image.
    assert "via-proxy" in await image_names("cloud-2", clouds_yaml)
    assert "via-proxy" not in await image_names("cloud-1", clouds_yaml)
