"""Simulated OpenStack clouds (Keystone, Glance, Nova, Neutron) for tests, demos and benches."""

from openstackoid.testbed.bed import Testbed
from openstackoid.testbed.model import (
    Caller,
    Faults,
    RecordedRequest,
    SimCloudInfo,
    admin_auth_body,
)

__all__ = ["Caller", "Faults", "RecordedRequest", "SimCloudInfo", "Testbed", "admin_auth_body"]
