"""The one table of the services the proxy serves. Adding a service is one entry here.

Each entry says what the rest of the proxy needs to know of a service: its official type
(the proxy's path prefix), the project names a scope may use for it, the version suffix its
catalog endpoint carries, how its list pages link the next page, and which of its paths
answer with a token (whose catalog must point at the proxy).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Links(enum.Enum):
    """How a service's list pages link their next page."""

    COLLECTION_LINKS = "collection_links"
    """`<collection>_links: [{rel: next, href: <absolute URL>}]` (Nova, Neutron, Cinder...)."""
    RELATIVE_NEXT = "relative_next"
    """`next: /v2/images?marker=...`, relative to the endpoint (Glance)."""
    ABSOLUTE_NEXT = "absolute_next"
    """`next: <absolute URL>` (Ironic, Barbican)."""


@dataclass(frozen=True)
class Service:
    type: str
    aliases: tuple[str, ...]
    """Project names for the type (os-service-types agrees; a test checks it)."""
    version_suffix: str = ""
    """What the proxy's catalog endpoint adds after `/<type>` when the issuer lists none."""
    links: Links = Links.COLLECTION_LINKS
    token_paths: frozenset[str] = frozenset()
    """API paths answering with a token and its catalog."""


IDENTITY = "identity"

SERVICES: dict[str, Service] = {
    s.type: s
    for s in (
        Service(
            IDENTITY,
            ("keystone",),
            "/v3",
            token_paths=frozenset({"/v3/auth/tokens", "/v3/auth/catalog"}),
        ),
        Service("image", ("glance",), links=Links.RELATIVE_NEXT),
        Service("compute", ("nova",), "/v2.1"),
        Service("network", ("neutron",)),
        Service("block-storage", ("cinder",)),
        Service("placement", ("placement",)),
        Service("object-store", ("swift",)),
        Service("orchestration", ("heat",)),
        Service("load-balancer", ("octavia",)),
        Service("dns", ("designate",)),
        Service("key-manager", ("barbican",), links=Links.ABSOLUTE_NEXT),
        Service("shared-file-system", ("manila",)),
        Service("baremetal", ("ironic",), links=Links.ABSOLUTE_NEXT),
    )
}
"""Every service the proxy serves, by type."""


def service(service_type: str) -> Service:
    """The entry of a served type; a type not in the table is a KeyError (a bug: the
    handler refuses unknown types before anything asks)."""
    return SERVICES[service_type]
