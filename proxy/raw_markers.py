"""A cloud's own marker on a fanned-out listing: the id of an item the proxy handed out.

openstacksdk pages with the `next` link while there is one; after a page without it, it
asks once more with `marker=<id of the last item>`, as real Glance, Nova and Neutron answer
an empty page to that. The composite marker is the proxy's, so that id means nothing to
the listing by itself: the proxy remembers, per listing, the position after the last item
of each page it served, and a raw marker that is one of those ids continues the listing
from there (after the final page: an empty page). Any other raw marker is a clear 400.

A listing is the caller's token (by digest), scope, service, path and filters (`limit`
aside: a client may change it between pages). Bounded: `max_entries` positions, each for
`ttl` seconds; positions bigger than `max_marker_bytes` (scopes of many clouds) are not
kept, their raw markers get the 400. Kept per process: with `--workers N`, a raw marker
that reaches another worker than the page it follows is unknown there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cachetools import TTLCache

from openstackoid.proxy.pagination import DONE, Position, decode_marker, encode_marker
from openstackoid.proxy.request import ProxyRequest

_IGNORED = frozenset({"marker", "limit"})


@dataclass(frozen=True)
class Resumed:
    """Where a raw marker resumes its listing."""

    position: Position
    list_key: str
    """The collection's key (`images`, `servers`): an ended listing's empty page needs it."""


class HandedOut:
    def __init__(
        self, max_entries: int = 8192, ttl: float = 3600.0, max_marker_bytes: int = 2048
    ) -> None:
        self.max_marker_bytes = max_marker_bytes
        self._after: TTLCache[str, tuple[str, str]] = TTLCache(max_entries, ttl)

    def remember(self, request: ProxyRequest, item_id: str, after: Position, key: str) -> None:
        """`item_id` ended a page of the listing; `after` is the listing's position then."""
        marker = DONE if after == DONE else encode_marker(after)
        if len(marker) + len(key) <= self.max_marker_bytes:
            self._after[_listing(request, item_id)] = (marker, key)

    def recall(self, request: ProxyRequest, item_id: str) -> Resumed | None:
        found = self._after.get(_listing(request, item_id))
        if found is None:
            return None
        marker, key = found
        return Resumed(DONE if marker == DONE else decode_marker(marker), key)


def _listing(request: ProxyRequest, item_id: str) -> str:
    filters = sorted((k, v) for k, v in request.params.items() if k not in _IGNORED)
    parts = (
        request.token or "",
        request.scope_text or "",
        request.service_type,
        request.path,
        repr(filters),
        item_id,
    )
    # A digest: the token is never kept in clear, and keys stay one size.
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
