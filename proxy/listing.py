"""The shape of OpenStack list pages, shared by merged and paged fan-outs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from proxy.buffered import Buffered

CLOUD_TAG = "openstackoid:cloud"
"""Key added to each item of a fanned-out list: the cloud it came from."""
PARTIAL_FAILURE = "X-Openstack-Partial-Failure"
"""Header naming the clouds a fanned-out answer lacks, and why."""
_LINK_KEYS = frozenset({"next", "first", "schema", "links"})


def list_key(document: Any) -> str | None:
    """The key of the one list of resources in a collection body, if it is one."""
    if not isinstance(document, dict):
        return None
    keys = [
        k
        for k, v in document.items()
        if isinstance(v, list) and k not in _LINK_KEYS and not k.endswith("_links")
    ]
    return keys[0] if len(keys) == 1 else None


def next_href(document: dict[str, Any]) -> str | None:
    """A page's link to the next one, as the cloud wrote it (glance `next`, nova/neutron
    `*_links` rel=next), or None on the last page."""
    nxt = document.get("next")
    if isinstance(nxt, str):
        return nxt
    for key, links in document.items():
        if key.endswith("_links") and isinstance(links, list):
            for link in links:
                if isinstance(link, dict) and link.get("rel") == "next":
                    return str(link.get("href", ""))
    return None


def has_more(document: dict[str, Any]) -> bool:
    """Whether a page links a next one."""
    return next_href(document) is not None


def drop_links(document: dict[str, Any]) -> None:
    """Remove a page's next links: one cloud's would carry its marker to every cloud."""
    document.pop("next", None)
    for link_key in [k for k in document if k.endswith("_links")]:
        del document[link_key]


def json_object(body: bytes) -> dict[str, Any] | None:
    """A cloud's JSON object, or None when it sent something else (a cut or garbled page)."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def refusal(answers: list[Buffered], failures: list[str]) -> Buffered:
    """The answer when every cloud said no: a 404 if any cloud said it (nobody has the
    thing), else the highest status; the failures named in the partial failure header."""
    chosen = min(answers, key=lambda a: (a.status != 404, -a.status))
    if failures:
        return chosen.with_header(PARTIAL_FAILURE, "; ".join(failures)[:4000])
    return chosen
