"""Mapping between a cloud's service endpoints and the proxy's `/<service_type>` prefixes."""

from __future__ import annotations

import re
from functools import lru_cache

# A version segment and whatever follows it (/v2.1, /v3, /v2.1/<project_id>).
_VERSION_SUFFIX = re.compile(r"/v\d+(\.\d+)?(/.*)?$")


@lru_cache(maxsize=65536)
def split_endpoint(url: str) -> tuple[str, str]:
    """(service root, version suffix): `http://h/compute/v2.1` -> (`http://h/compute`, `/v2.1`)."""
    url = url.rstrip("/")
    match = _VERSION_SUFFIX.search(url.split("://", 1)[-1])
    if match is None:
        return url, ""
    cut = len(url) - len(match.group(0))
    return url[:cut], url[cut:]


def service_root(url: str) -> str:
    return split_endpoint(url)[0]


def proxy_endpoint(public_url: str, service_type: str, endpoint_url: str) -> str:
    """Where the proxy serves the same endpoint: its prefix plus the version suffix."""
    return f"{public_url.rstrip('/')}/{service_type}{split_endpoint(endpoint_url)[1]}"
