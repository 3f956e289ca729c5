"""Where the proxy may send a request for a cloud: never to itself, and to an endpoint
found in the cloud's own catalog only on the cloud's registered host.

A catalog naming the testbed's control port let a request with token "anything" change its
faults through `/image/...`, and one naming the proxy looped 64 hops deep (issue 15).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from openstackoid.proxy.errors import LoopDetected, UpstreamUnavailable
from openstackoid.proxy.upstream.pool import Origin, split_url
from openstackoid.registry import Cloud

_WILDCARDS = frozenset({"", "0.0.0.0", "::"})
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _netloc(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{(parts.hostname or '').lower()}:{port}"


def allowed(cloud: Cloud, origin: Origin) -> bool:
    """An origin of the cloud's registered host: its auth_url's host and port, an endpoint
    the operator declared, or an entry of allowed_hosts (`host` or `host:port`)."""
    host = origin.host.lower()
    here = f"{host}:{origin.port}"
    if here == _netloc(cloud.auth_url) or here in (_netloc(u) for u in cloud.endpoints.values()):
        return True
    return any(entry.lower() in (host, here) for entry in cloud.allowed_hosts)


@dataclass
class Destinations:
    own: set[tuple[str, int]] = field(default_factory=set)
    """The proxy's listening addresses, filled as its sockets are bound."""

    def is_own(self, origin: Origin) -> bool:
        for host, port in self.own:
            if port == origin.port and (
                host == origin.host or (host in _WILDCARDS | _LOOPBACK and origin.host in _LOOPBACK)
            ):
                return True
        return False

    def check(self, declared: Cloud, url: str, discovered: bool, service_type: str) -> None:
        """Raise unless `url` may be called for the cloud; `discovered`: its endpoint came
        from the cloud's catalog, not from the operator."""
        origin, _ = split_url(url)
        if self.is_own(origin):
            raise LoopDetected(
                f"cloud {declared.name!r} puts {service_type} at {origin.netloc}, this proxy "
                "itself: refused (a loop)"
            )
        if discovered and not allowed(declared, origin):
            raise UpstreamUnavailable(
                f"cloud {declared.name!r}'s catalog puts {service_type} at {origin.netloc}, "
                f"off its registered host {_netloc(declared.auth_url)}: refused; the operator "
                "may allow it in the cloud's allowed_hosts"
            )
