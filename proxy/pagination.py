"""Pagination across clouds: one opaque marker carrying each cloud's own marker.

A fanned-out `GET ...?limit=N` takes up to N items from each cloud, keeps the first N in
cloud order, and links `next` to a composite marker recording, per cloud, the last item
handed out (or that the cloud is exhausted). No item is lost or repeated. A failover group
(`(a | b) & c`) is one entry, holding the member that answered its first page and that
member's marker: the group pages on that member, and when it fails the page says so
(partial failure) and the next page retries it, rather than switch to a member whose items
differ.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from urllib.parse import urlencode

from proxy.errors import BadRequest

PREFIX = "osoid."
DONE = ""
"""The per-cloud marker of a cloud with nothing left."""
GROUP_SEPARATOR = "\n"
"""Within a failover group's entry: the member that served its pages, then its marker."""


def encode_marker(markers: Mapping[str, str | None]) -> str:
    raw = json.dumps(dict(markers), separators=(",", ":")).encode()
    return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_marker(marker: str) -> dict[str, str | None]:
    """Per-cloud markers: None = start from the first item, DONE = exhausted."""
    if not marker.startswith(PREFIX):
        raise BadRequest(f"marker {marker!r} was not issued by openstackoid for this listing")
    body = marker[len(PREFIX) :]
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError as exc:
        raise BadRequest(f"marker {marker!r} is damaged") from exc
    if not isinstance(data, dict) or not all(isinstance(v, str | None) for v in data.values()):
        raise BadRequest(f"marker {marker!r} is damaged")
    return data


def cloud_query(query: Mapping[str, str], cloud_marker: str | None) -> str:
    params = {k: v for k, v in query.items() if k != "marker"}
    if cloud_marker:
        params["marker"] = cloud_marker
    return urlencode(params)


def next_link(path: str, query: Mapping[str, str], markers: Mapping[str, str | None]) -> str:
    params = {k: v for k, v in query.items() if k != "marker"}
    params["marker"] = encode_marker(markers)
    return f"{path}?{urlencode(params)}"
