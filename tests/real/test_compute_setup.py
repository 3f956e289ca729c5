"""A compute cloud's configuration and names, and its clear errors, without starting services."""

from __future__ import annotations

import configparser
import socket
from pathlib import Path

import pytest

from openstackoid.testbed.ports import ephemeral_range
from openstackoid.testbed.real import RealTestbed, RealVenvMissing
from openstackoid.testbed.real import backing as backing_module
from openstackoid.testbed.real.backing import CloudBacking, check_backing_services
from openstackoid.testbed.real.bed import cloud_index, cloud_names
from openstackoid.testbed.real.compute_config import (
    ComputeSettings,
    ml2_conf,
    neutron_conf,
    nova_conf,
)
from openstackoid.testbed.real.config import CloudDirs
from openstackoid.testbed.real.errors import BackingServiceDown
from openstackoid.testbed.real.model import ComputePorts, RealCloudInfo
from openstackoid.testbed.real.process import free_port


def _settings(tmp_path: Path, image_service_url: str | None) -> ComputeSettings:
    return ComputeSettings(
        dirs=CloudDirs(tmp_path / "cloud-1"),
        backing=CloudBacking("ab12cd34", "cloud-1"),
        identity_url="http://127.0.0.1:5000/identity",
        host="cloud-1-compute",
        image_service_url=image_service_url,
        nova_paste_ini=Path("/venv/etc/nova/api-paste.ini"),
        neutron_paste_ini=Path("/venv/etc/neutron/api-paste.ini"),
    )


def _parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def test_nova_asks_the_proxy_for_images_only_when_told(tmp_path: Path) -> None:
    via_proxy = _parse(nova_conf(_settings(tmp_path, "http://127.0.0.1:8080/image")))
    assert via_proxy["glance"]["endpoint_override"] == "http://127.0.0.1:8080/image"
    own = _parse(nova_conf(_settings(tmp_path, None)))
    assert "endpoint_override" not in own["glance"]


def test_nova_conf_names_this_runs_databases_vhost_and_fake_driver(tmp_path: Path) -> None:
    nova = _parse(nova_conf(_settings(tmp_path, None)))
    assert nova["DEFAULT"]["compute_driver"] == "fake.FakeDriver"
    assert nova["api_database"]["connection"].endswith("/osk_ab12cd34_cloud1_nova_api")
    assert nova["database"]["connection"].endswith("/osk_ab12cd34_cloud1_nova_cell1")
    assert nova["DEFAULT"]["transport_url"].endswith("/openstackoid-ab12cd34-cloud-1")
    assert nova["scheduler"]["discover_hosts_in_cells_interval"] == "-1"
    assert nova["keystone_authtoken"]["username"] == "nova"
    assert nova["placement"]["username"] == "placement"


def test_neutron_runs_its_api_alone(tmp_path: Path) -> None:
    neutron = _parse(neutron_conf(_settings(tmp_path, None)))
    assert neutron["DEFAULT"]["core_plugin"] == "ml2"
    assert neutron["DEFAULT"]["service_plugins"] == ""
    assert neutron["DEFAULT"]["notify_nova_on_port_status_changes"] == "false"
    assert _parse(ml2_conf())["ml2"]["mechanism_drivers"] == ""


def test_backing_names_are_per_run_and_per_cloud() -> None:
    one = CloudBacking("run1", "cloud-1")
    assert one.database("nova_api") == "osk_run1_cloud1_nova_api"
    assert CloudBacking("run2", "cloud-1").database("nova_api") != one.database("nova_api")
    assert CloudBacking("run1", "cloud-999").prefix != one.prefix
    assert one.transport_url.endswith("/openstackoid-run1-cloud-1")


def test_compute_cloud_info_lists_nova_placement_and_neutron() -> None:
    info = RealCloudInfo(
        "cloud-1", 1, "127.0.0.1", 5000, 9292, compute_ports=ComputePorts(8774, 8778, 9696)
    )
    assert info.is_compute
    assert info.endpoints["compute"] == "http://127.0.0.1:8774/compute/v2.1"
    assert info.endpoints["placement"] == "http://127.0.0.1:8778/placement"
    assert info.endpoints["network"] == "http://127.0.0.1:9696/network"
    assert info.ports == (5000, 9292, 8774, 8778, 9696)


def test_clouds_by_name_keep_their_number() -> None:
    assert cloud_names(["cloud-1", "cloud-999"]) == ["cloud-1", "cloud-999"]
    assert cloud_index("cloud-999") == 999
    assert cloud_names(2) == ["cloud-1", "cloud-2"]
    with pytest.raises(ValueError, match="cloud-<n>"):
        cloud_names(["edge-1"])
    with pytest.raises(ValueError, match="repeat"):
        cloud_names(["cloud-1", "cloud-1"])


def test_a_compute_cloud_must_be_one_of_the_clouds() -> None:
    with pytest.raises(ValueError, match="cloud-3"):
        RealTestbed(["cloud-1", "cloud-999"], compute=["cloud-3"])


def test_a_venv_without_nova_says_how_to_build_it(tmp_path: Path) -> None:
    bed = RealTestbed(["cloud-1"], compute=["cloud-1"], venv=tmp_path)
    with pytest.raises(RealVenvMissing, match=r"Nova(.|\n)*make real-venv"):
        bed.venv.check(compute=True)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


async def test_mariadb_or_rabbitmq_down_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backing_module, "MARIADB_PORT", _closed_port())
    monkeypatch.setattr(backing_module, "RABBITMQ_PORT", _closed_port())
    with pytest.raises(BackingServiceDown) as caught:
        await check_backing_services()
    message = str(caught.value)
    assert "MariaDB" in message and "mariadbd" in message
    assert "RabbitMQ" in message and "rabbitmq-server -detached" in message


async def test_compute_testbed_start_stops_early_when_mariadb_is_down(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(backing_module, "MARIADB_PORT", _closed_port())
    bed = RealTestbed(["cloud-1"], compute=["cloud-1"])
    monkeypatch.setattr(bed.venv, "check", lambda compute=False: None)
    with pytest.raises(BackingServiceDown, match="MariaDB"):
        await bed.start()
    assert bed.clouds == [] and bed._root is None


def test_ports_are_picked_below_the_ephemeral_range_and_never_twice() -> None:
    """Outgoing connections take ephemeral ports: one took a port picked there while a
    compute cloud's schemas were being made, before its service could bind it."""
    low, _ = ephemeral_range()
    ports = [free_port("127.0.0.1") for _ in range(50)]
    assert len(set(ports)) == len(ports)
    if low > 11024:
        assert all(port < low for port in ports)
