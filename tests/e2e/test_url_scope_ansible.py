"""Ansible's openstack.cloud collection 2.5.0 (as the issue's user ran it), scoped by its
auth_url alone: no openstackoid code in its interpreter, only openstacksdk < 4.15, which
the collection needs. Its virtualenv is built once under .venv-ansible (~3 min here,
mostly downloading and unpacking the `ansible` bundle) and reused while its spec holds."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.url_scope_clients import clouds_yaml, images_held_by, name_scope, run, served
from tests.federation import Federation, FederationFactory

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SPEC = ("ansible==12.3.0", "openstacksdk<4.15")
"""ansible 12.3.0 bundles openstack.cloud 2.5.0."""
VENV = Path(
    os.environ.get("OPENSTACKOID_ANSIBLE_VENV", Path(__file__).parents[2] / ".venv-ansible")
)


@pytest.fixture(scope="session")
def ansible_venv() -> Path:
    marker = VENV / "openstackoid-spec.txt"
    if marker.exists() and marker.read_text() == "\n".join(SPEC):
        return VENV
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    pip = [str(VENV / "bin/python"), "-m", "pip", "install", "-q", *SPEC]
    subprocess.run(pip, check=True, timeout=1200)
    collection = VENV / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    manifest = collection / "site-packages/ansible_collections/openstack/cloud/MANIFEST.json"
    assert json.loads(manifest.read_text())["collection_info"]["version"] == "2.5.0"
    marker.write_text("\n".join(SPEC))
    return VENV


async def _playbook(
    venv: Path, tmp_path: Path, config: Path, tasks: list[dict[str, object]]
) -> dict[str, object]:
    """Run `tasks` on localhost; each registers a result the play writes to results.json."""
    results = tmp_path / "results.json"
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [
            *tasks,
            {
                "ansible.builtin.copy": {
                    "dest": str(results),
                    "content": "{{ {"
                    + ", ".join(f"'{t['register']}': {t['register']}" for t in tasks)
                    + "} | to_json }}",
                }
            },
        ],
    }
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    env = {
        "OS_CLIENT_CONFIG_FILE": str(config),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "PYTHONPATH": "",  # nothing of openstackoid's on the path
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
    }
    python = venv / "bin/python"
    code, out, err = await run(
        str(venv / "bin/ansible-playbook"), "-i", "localhost,", "-c", "local",
        "-e", f"ansible_python_interpreter={python}", str(path), env=env,
    )  # fmt: skip
    assert code == 0, out + err
    loaded: dict[str, object] = json.loads(results.read_text())
    return loaded


async def _federation(
    make_federation: FederationFactory, tmp_path: Path
) -> tuple[Federation, Path]:
    fed = await make_federation(admin_token="admin-secret", default_scope="{*: cloud-3}")
    await name_scope(fed, "fed-c2", "keystone: cloud-1; glance: cloud-2")
    url = f"{fed.url}/scope/fed-c2/identity/v3"
    return fed, clouds_yaml(tmp_path / "clouds.yaml", url, fed.bed.cloud("cloud-1"))


async def test_image_info(
    ansible_venv: Path, make_federation: FederationFactory, tmp_path: Path
) -> None:
    fed, config = await _federation(make_federation, tmp_path)
    task = {"openstack.cloud.image_info": {"cloud": "fed"}, "register": "found"}
    found = (await _playbook(ansible_venv, tmp_path, config, [task]))["found"]
    assert isinstance(found, dict)
    assert [i["id"] for i in found["images"]] == [fed.bed.cloud("cloud-2").image_id]
    assert served(fed, "cloud-2", "/image/v2/images") and not served(fed, "cloud-3", "/image/")


async def test_image_upload_lands_in_the_named_cloud(
    ansible_venv: Path, make_federation: FederationFactory, tmp_path: Path
) -> None:
    fed, config = await _federation(make_federation, tmp_path)
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * 4096)
    task = {
        "openstack.cloud.image": {
            "cloud": "fed",
            "name": "from-ansible",
            "filename": str(disk),
            "disk_format": "raw",
            "container_format": "bare",
        },
        "register": "uploaded",
    }
    uploaded = (await _playbook(ansible_venv, tmp_path, config, [task]))["uploaded"]
    assert isinstance(uploaded, dict)
    assert served(fed, "cloud-2", "/image/v2/images", "POST")
    assert not served(fed, "cloud-1", "/image/") and not served(fed, "cloud-3", "/image/")
    held = await images_held_by(fed, "cloud-2")  # asked of cloud-2 itself
    assert held["from-ansible"] == uploaded["image"]["id"]
    assert "from-ansible" not in await images_held_by(fed, "cloud-3")


async def test_server_seed_scenario(
    ansible_venv: Path, make_federation: FederationFactory, tmp_path: Path
) -> None:
    """The VM in cloud-1 with cloud-1's identity, from the image cloud-2 holds."""
    fed, config = await _federation(make_federation, tmp_path)
    task = {
        "openstack.cloud.server": {
            "cloud": "fed",
            "name": "cirros1",
            "image": "cirros",
            "flavor": "m1.small",
            "auto_ip": False,
            "wait": True,
        },
        "register": "vm",
    }
    vm = (await _playbook(ansible_venv, tmp_path, config, [task]))["vm"]
    assert isinstance(vm, dict)
    image_id = fed.bed.cloud("cloud-2").image_id
    assert vm["server"]["image"]["id"] == image_id
    assert served(fed, "cloud-1", "/compute/v2.1/servers", "POST")
    # Nova (cloud-1) asked the proxy for the image with the user's token and no scope: the
    # URL's scope, remembered for the token, sent it to cloud-2.
    assert served(fed, "cloud-2", f"/image/v2/images/{image_id}", "GET")
    assert not served(fed, "cloud-3", "/")
