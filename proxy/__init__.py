"""The openstackoid federation proxy."""

from proxy.app import make_app, running_proxy
from proxy.config import ProxyConfig

__all__ = ["ProxyConfig", "make_app", "running_proxy"]
