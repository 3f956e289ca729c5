"""How to reach a cloud over TLS: one answer for every call made to it."""

from __future__ import annotations

import functools
import ssl

from openstackoid.registry.model import Cloud


@functools.lru_cache(maxsize=256)
def _ca_context(cafile: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile)


def tls_for(cloud: Cloud) -> ssl.SSLContext | bool:
    """Verified by default; the cloud's own CA bundle when it names one; off only if asked.
    Token validation, logins, discovery and API calls all take it from here."""
    if not cloud.verify:
        return False
    return _ca_context(cloud.cacert) if cloud.cacert else True
