"""The openstackoid federation proxy."""

from openstackoid.proxy.app import make_app, running_proxy
from openstackoid.proxy.config import ProxyConfig

__all__ = ["ProxyConfig", "make_app", "running_proxy"]
