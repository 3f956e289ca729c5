"""The unmodified openstack CLI and openstacksdk work against the simulated clouds."""

import asyncio
import json
from pathlib import Path

import openstack

from openstackoid.testbed import Testbed
from openstackoid.testbed.cli_runner import run_openstack


async def test_openstack_cli_scenario(testbed: Testbed, tmp_path: Path) -> None:
    clouds_yaml = testbed.write_clouds_yaml(tmp_path / "clouds.yaml")

    async def cli(*args: str) -> str:
        code, out, err = await run_openstack(
            "--os-cloud", "cloud-1", *args, clouds_yaml=clouds_yaml
        )
        assert code == 0, err
        return out

    token = json.loads(await cli("token", "issue", "-f", "json"))
    assert token["project_id"]
    images = json.loads(await cli("image", "list", "-f", "json"))
    assert [i["ID"] for i in images] == [testbed.cloud("cloud-1").image_id]
    server = json.loads(
        await cli(
            "server",
            "create",
            "--image",
            "cirros",
            "--flavor",
            "m1.small",
            "--wait",
            "-f",
            "json",
            "vm1",
        )
    )
    assert server["status"] == "ACTIVE"
    # OSC prints the image as "name (id)".
    assert testbed.cloud("cloud-1").image_id in server["image"]
    names = [s["Name"] for s in json.loads(await cli("server", "list", "-f", "json"))]
    assert names == ["vm1"]
    # Only cloud-1 was asked: clouds are independent.
    assert testbed.requests("cloud-1") and not testbed.requests("cloud-2")


async def test_image_upload_and_download_with_the_cli(testbed: Testbed, tmp_path: Path) -> None:
    clouds_yaml = testbed.write_clouds_yaml(tmp_path / "clouds.yaml")
    data = tmp_path / "disk.raw"
    data.write_bytes(b"\x01" * 300_000)
    code, out, err = await run_openstack(
        "--os-cloud",
        "cloud-2",
        "image",
        "create",
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "--file",
        str(data),
        "-f",
        "json",
        "mine",
        clouds_yaml=clouds_yaml,
    )
    assert code == 0, err
    image = json.loads(out)
    assert image["status"] == "active" and image["size"] == 300_000
    saved = tmp_path / "saved.raw"
    code, _, err = await run_openstack(
        "--os-cloud",
        "cloud-2",
        "image",
        "save",
        "--file",
        str(saved),
        image["id"],
        clouds_yaml=clouds_yaml,
    )
    assert code == 0, err
    assert saved.read_bytes() == data.read_bytes()


async def test_openstacksdk_lists_and_creates(testbed: Testbed, tmp_path: Path) -> None:
    clouds_yaml = testbed.write_clouds_yaml(tmp_path / "clouds.yaml")

    def use_sdk() -> tuple[list[str], str]:
        config = openstack.config.OpenStackConfig(config_files=[str(clouds_yaml)])
        conn = openstack.connection.Connection(config=config.get_one("cloud-3"))
        names = [image.name for image in conn.image.images()]
        network = conn.network.create_network(name="net-x")
        conn.close()
        return names, network.name

    names, network_name = await asyncio.to_thread(use_sdk)
    assert names == ["cirros"] and network_name == "net-x"
