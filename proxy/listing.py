"""The shape of OpenStack list pages, shared by merged and paged fan-outs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from openstackoid.proxy.services import Links

if TYPE_CHECKING:
    from openstackoid.proxy.buffered import Buffered

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


def next_href(document: dict[str, Any], dialect: Links) -> str | None:
    """A page's link to the next one, as the cloud wrote it in its service's dialect, or
    None on the last page."""
    if dialect is not Links.COLLECTION_LINKS:
        nxt = document.get("next")
        return nxt if isinstance(nxt, str) and nxt else None
    for key, links in document.items():
        if key.endswith("_links") and isinstance(links, list):
            for link in links:
                if isinstance(link, dict) and link.get("rel") == "next":
                    return str(link.get("href", ""))
    return None


def has_more(document: dict[str, Any], dialect: Links) -> bool:
    """Whether a page links a next one."""
    return next_href(document, dialect) is not None


def link_next(document: dict[str, Any], key: str, dialect: Links, link: str, prefix: str) -> None:
    """Link a page made by the proxy to its next: `link` is relative to the proxy's
    service `prefix`, written as the service writes its own."""
    if dialect is Links.RELATIVE_NEXT:
        document["next"] = link
    elif dialect is Links.ABSOLUTE_NEXT:
        document["next"] = prefix + link
    else:
        document[f"{key}_links"] = [{"rel": "next", "href": prefix + link}]


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
