"""Pagination across clouds: one opaque marker carrying every cloud's own marker. No IO.

A fanned-out `GET ...?limit=N` asks every cloud still listing for N items, hands out the
first N in scope order and links `next` to a composite marker: the listing's *position*,
a tree shaped like the scope's.

    None                    nothing handed out yet: start from the first item
    DONE ("")               exhausted
    "id"                    a cloud: its own marker (the last item handed out)
    {branch: position}      an `&`: each branch's position; a branch the marker lacks
                            joined after the listing began and is skipped
    (member, position)      a `|` group: the member serving its pages, and its position

A group pages on one member once an item of it was handed out: another member's items
differ, so switching would lose or repeat some. When that member fails the page says so
(partial failure) and the next page retries it. Until then (nothing handed out) the group
fails over afresh on every page, like `|`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, TypeAlias, assert_never
from urllib.parse import urlencode

from multidict import MultiMapping

from openstackoid.proxy.errors import BadRequest

PREFIX = "osoid."
DONE = ""
"""The position of a cloud, branch or group with nothing left."""
MAX_DEPTH = 32
"""Nesting a marker may have: scopes are shallow, a deeper marker is forged."""

Position: TypeAlias = "str | None | dict[str, Position] | tuple[str, Position]"


@dataclass(frozen=True)
class Page:
    """A cloud's list page."""

    cloud: str
    document: dict[str, Any]
    items: list[Any]
    more: bool
    """The cloud links a next page."""


@dataclass(frozen=True)
class Failed:
    """A cloud, branch or group that gave no usable page."""

    message: str
    answered: bool = False
    """The cloud answered (below 500, not a list): for `|`, an answer, not a failure."""


@dataclass(frozen=True)
class Branches:
    """An `&`: what each branch still listing fetched, by branch key, in scope order."""

    fetched: tuple[tuple[str, Fetched], ...]


@dataclass(frozen=True)
class Served:
    """A `|` group: the member that answered (or that the marker names) and its fetch."""

    member: str
    fetched: Fetched
    committed: bool
    """The marker named the member: items of it were handed out already."""
    skipped: tuple[str, ...] = ()
    """Why the members before it were passed over."""


Fetched: TypeAlias = "Page | Failed | Branches | Served"


@dataclass
class Taken:
    """One page being assembled: items as (cloud, item), and what failed."""

    limit: int
    items: list[tuple[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def answered(fetched: Fetched) -> bool:
    """Whether a fetch counts as an answer for failover: some cloud in it answered."""
    match fetched:
        case Page():
            return True
        case Failed(answered=was_answered):
            return was_answered
        case Branches(fetched=branches):
            return any(answered(f) for _, f in branches)
        case Served(fetched=inner):
            return answered(inner)
        case _:
            assert_never(fetched)


def failures(fetched: Fetched) -> list[str]:
    """What failed in a fetch, for a group that passes over it."""
    page = Taken(0)
    take(fetched, None, page)
    return page.failures


def take(fetched: Fetched, position: Position, page: Taken) -> Position:
    """Hand out items of `fetched` in scope order until the page is full; the new position."""
    match fetched:
        case Page():
            return _take_page(fetched, position, page)
        case Failed(message=message):
            page.failures.append(message)
            return position  # the next page retries it
        case Branches(fetched=branches):
            positions = dict(position) if isinstance(position, dict) else {}
            for key, branch in branches:
                positions[key] = take(branch, positions.get(key), page)
            return DONE if all(p == DONE for p in positions.values()) else positions
        case Served(member=member, fetched=inner, committed=committed, skipped=skipped):
            page.failures.extend(skipped)
            before = len(page.items)
            inner_position = position[1] if committed and isinstance(position, tuple) else None
            after = take(inner, inner_position, page)
            if after == DONE:
                return DONE
            if not committed and len(page.items) == before:
                return None  # nothing of it handed out: free to fail over next time
            return (member, after)
        case _:
            assert_never(fetched)


def _take_page(fetched: Page, position: Position, page: Taken) -> Position:
    taken = fetched.items[: max(0, page.limit - len(page.items))]
    page.items.extend((fetched.cloud, item) for item in taken)
    if len(taken) == len(fetched.items) and not fetched.more:
        return DONE
    if taken:
        last = taken[-1]
        return str(last.get("id") if isinstance(last, dict) else last)
    return position


def encode_marker(position: Position) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_marker(marker: str) -> Position:
    if not marker.startswith(PREFIX):
        raise BadRequest(f"marker {marker!r} was not issued by openstackoid for this listing")
    body = marker[len(PREFIX) :]
    try:
        return _position(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"marker {marker[:200]!r} is damaged") from exc


def _position(data: Any, depth: int = 0) -> Position:
    """A decoded position, checked: JSON lists become (member, position) pairs."""
    if depth > MAX_DEPTH:
        raise ValueError("too deep")
    if data is None or isinstance(data, str):
        return data
    if isinstance(data, dict):
        return {str(k): _position(v, depth + 1) for k, v in data.items()}
    if isinstance(data, list) and len(data) == 2 and isinstance(data[0], str):
        return (data[0], _position(data[1], depth + 1))
    raise ValueError(f"not a position: {data!r}")


def cloud_query(query: MultiMapping[str], cloud_marker: str | None) -> str:
    """The client's query for one cloud: every parameter (repeated keys too), the cloud's
    own marker in place of the composite one."""
    params = [(k, v) for k, v in query.items() if k != "marker"]
    if cloud_marker:
        params.append(("marker", cloud_marker))
    return urlencode(params)


def next_link(path: str, query: MultiMapping[str], position: Position) -> str:
    params = [(k, v) for k, v in query.items() if k != "marker"]
    params.append(("marker", encode_marker(position)))
    return f"{path}?{urlencode(params)}"
