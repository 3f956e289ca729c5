"""Real OpenStack clouds for tests, run from .venv-real: Keystone and Glance in every cloud;
Nova, Placement and Neutron (on MariaDB and RabbitMQ) in compute clouds."""

from openstackoid.testbed.real.bed import RealTestbed
from openstackoid.testbed.real.errors import BackingServiceDown, RealTestbedError, RealVenvMissing
from openstackoid.testbed.real.model import ComputePorts, RealCloudInfo

__all__ = [
    "BackingServiceDown",
    "ComputePorts",
    "RealCloudInfo",
    "RealTestbed",
    "RealTestbedError",
    "RealVenvMissing",
]
