"""limit/marker paging as each real API does it, links included.

- Glance (glance/api/v2/images.py): `next` on every full page, so a client meets an empty
  last page; `first` and `next` keep the other query parameters.
- Nova (nova/api/openstack/common.py `_get_collection_links`): `<collection>_links` with
  rel=next on every full page (limit capped at max_limit, 1000); an unknown marker is a 400.
- Neutron (neutron/api/api_common.py `get_pagination_links`): with `limit` given,
  `<collection>_links` has rel=next on every full page and rel=previous on every page
  (page_reverse=True going back); an unknown marker is a 404 of the marker's resource.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

NOVA_MAX_LIMIT = 1000
GLANCE_MAX_LIMIT = 1000


class PagingError(ValueError):
    """A limit or marker the API refuses; `status` is the service's answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_limit(query: Mapping[str, str], default: int | None, cap: int | None) -> int | None:
    """The page size asked for, capped; None for no paging (Neutron without a limit)."""
    text = query.get("limit")
    if text is None:
        return default
    try:
        limit = int(text)
    except ValueError as exc:
        raise PagingError(400, "limit param must be an integer") from exc
    if limit < 0:
        raise PagingError(400, "limit param must be positive")
    return min(limit, cap) if cap else limit


def after_marker(
    items: Sequence[dict[str, Any]], marker: str | None, key: str = "id"
) -> Sequence[dict[str, Any]] | None:
    """The items after `marker`, or None if no item has it."""
    if marker is None:
        return items
    for index, item in enumerate(items):
        if item[key] == marker:
            return items[index + 1 :]
    return None


def glance_links(
    path: str, query: Mapping[str, str], page: Sequence[dict[str, Any]], limit: int
) -> dict[str, str]:
    params = {k: v for k, v in query.items() if k != "marker"}
    links = {"first": path + (f"?{urlencode(params)}" if params else "")}
    if page and len(page) == limit:
        links["next"] = f"{path}?{urlencode({**params, 'marker': page[-1]['id']})}"
    return links


def nova_links(
    url: str, query: Mapping[str, str], page: Sequence[dict[str, Any]], limit: int, key: str
) -> list[dict[str, str]]:
    if not page or len(page) != limit:
        return []
    params = dict(sorted({**query, "marker": str(page[-1][key])}.items()))
    return [{"rel": "next", "href": f"{url}?{urlencode(params)}"}]


def neutron_page(
    items: Sequence[dict[str, Any]], query: Mapping[str, str], limit: int
) -> tuple[Sequence[dict[str, Any]], bool]:
    """Neutron's page of `items` (sorted by id), and whether the marker was found."""
    marker = query.get("marker")
    reverse = query.get("page_reverse", "False").lower() == "true"
    index = -1
    if marker is not None:
        found = [i for i, item in enumerate(items) if item["id"] == marker]
        if not found:
            return [], False
        index = found[0]
    if reverse:
        start = max(index - limit, 0) if marker is not None else max(len(items) - limit, 0)
        stop = index if marker is not None else len(items)
        return items[start:stop], True
    return items[index + 1 : index + 1 + limit], True


def neutron_links(
    url: str, query: Mapping[str, str], page: Sequence[dict[str, Any]], limit: int
) -> list[dict[str, str]]:
    reverse = query.get("page_reverse", "False").lower() == "true"
    params = {k: v for k, v in query.items() if k != "marker"}
    links = []
    if not (len(page) < limit and not reverse):
        forward = {k: v for k, v in params.items() if k != "page_reverse"}
        if page:
            forward["marker"] = page[-1]["id"]
        links.append({"rel": "next", "href": f"{url}?{urlencode(forward)}"})
    if not (len(page) < limit and reverse):
        back = dict(params)
        if page:
            back["marker"] = page[0]["id"]
        back["page_reverse"] = "True"
        links.append({"rel": "previous", "href": f"{url}?{urlencode(back)}"})
    return links
