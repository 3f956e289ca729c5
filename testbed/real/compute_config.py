"""The config files of a compute cloud's Nova, Placement and Neutron.

What a real operator writes: MariaDB databases, a RabbitMQ vhost, service users of the cloud's
own Keystone, the fake virt driver, and single workers (two cores serve everything here).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openstackoid.testbed.real.backing import CloudBacking
from openstackoid.testbed.real.config import CloudDirs, authtoken, password_auth

SERVICE_PASSWORD = "service-secret"
NOVA_USER = "nova"
PLACEMENT_USER = "placement"
NEUTRON_USER = "neutron"
SERVICE_USERS = (NOVA_USER, PLACEMENT_USER, NEUTRON_USER)


@dataclass(frozen=True)
class ComputeSettings:
    """Everything the compute services' config files are made from."""

    dirs: CloudDirs
    backing: CloudBacking
    identity_url: str
    """Keystone's unversioned root: services validate tokens and log in there."""
    host: str
    """Nova's name for the one compute host (the hypervisor's name too)."""
    image_service_url: str | None
    """Nova's ``[glance] endpoint_override``; None: the image endpoint of the catalog."""
    nova_paste_ini: Path
    neutron_paste_ini: Path


def _service_auth(section: str, url: str, username: str) -> str:
    """A keystoneauth password section for a service user of the service project."""
    return password_auth(section, url, username, SERVICE_PASSWORD, "service")


def _authtoken(url: str, username: str) -> str:
    return authtoken(url, username, SERVICE_PASSWORD, "service")


def nova_conf(settings: ComputeSettings) -> str:
    dirs, backing, url = settings.dirs, settings.backing, settings.identity_url
    glance = (
        f"endpoint_override = {settings.image_service_url}\n" if settings.image_service_url else ""
    )
    return (
        f"""\
[DEFAULT]
use_stderr = true
host = {settings.host}
my_ip = 127.0.0.1
transport_url = {backing.transport_url}
compute_driver = fake.FakeDriver
state_path = {dirs.nova_dir}
instances_path = {dirs.nova_dir / "instances"}

[api]
auth_strategy = keystone

[wsgi]
api_paste_config = {settings.nova_paste_ini}

[api_database]
connection = {backing.database_url("nova_api")}

[database]
connection = {backing.database_url("nova_cell1")}

[conductor]
workers = 1

[scheduler]
workers = 1
discover_hosts_in_cells_interval = -1

[oslo_concurrency]
lock_path = {dirs.nova_dir / "locks"}

[oslo_messaging_notifications]
driver = noop

[vnc]
enabled = false

[glance]
{glance}
"""
        + _authtoken(url, NOVA_USER)
        + "\n"
        + _service_auth("service_user", url, NOVA_USER)
        + "send_service_user_token = true\n\n"
        + _service_auth("placement", url, PLACEMENT_USER)
        + "\n"
        + _service_auth("neutron", url, NEUTRON_USER)
    )


def placement_conf(settings: ComputeSettings) -> str:
    return f"""\
[DEFAULT]
use_stderr = true

[placement_database]
connection = {settings.backing.database_url("placement")}

[api]
auth_strategy = keystone

""" + _authtoken(settings.identity_url, PLACEMENT_USER)


def neutron_conf(settings: ComputeSettings) -> str:
    """Neutron's API alone: ML2 with no mechanism driver, no agents, no service plugins."""
    dirs = settings.dirs
    return (
        f"""\
[DEFAULT]
use_stderr = true
core_plugin = ml2
service_plugins =
auth_strategy = keystone
api_paste_config = {settings.neutron_paste_ini}
state_path = {dirs.neutron_dir}
transport_url = {settings.backing.transport_url}
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false

[database]
connection = {settings.backing.database_url("neutron")}

[oslo_concurrency]
lock_path = {dirs.neutron_dir / "locks"}

[oslo_messaging_notifications]
driver = noop

"""
        + _authtoken(settings.identity_url, NEUTRON_USER)
        + "\n"
        + _service_auth("nova", settings.identity_url, NOVA_USER)
    )


def ml2_conf() -> str:
    return """\
[ml2]
type_drivers = local,flat
tenant_network_types = local
mechanism_drivers =
extension_drivers =
"""
