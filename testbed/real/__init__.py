"""Real OpenStack clouds for tests: Keystone and Glance from PyPI, run from .venv-real."""

from testbed.real.bed import RealTestbed
from testbed.real.errors import RealTestbedError, RealVenvMissing
from testbed.real.model import RealCloudInfo

__all__ = ["RealCloudInfo", "RealTestbed", "RealTestbedError", "RealVenvMissing"]
