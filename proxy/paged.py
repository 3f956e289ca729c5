"""A fanned-out `GET ...?limit=N`: one page across any tree of `&` and `|`.

Every cloud still listing is asked for N items at once (a `|` group asks its members in
turn until one answers); pagination.take then hands out the first N in scope order and
says where the listing stands. The IO is here, the bookkeeping in pagination.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, assert_never

from multidict import CIMultiDict, MultiDictProxy

from openstackoid.proxy.buffered import Buffered, made
from openstackoid.proxy.errors import BadRequest, ProxyError, UpstreamUnavailable
from openstackoid.proxy.listing import (
    CLOUD_TAG,
    PARTIAL_FAILURE,
    drop_links,
    has_more,
    json_object,
    link_next,
    list_key,
    refusal,
)
from openstackoid.proxy.pagination import (
    DONE,
    PREFIX,
    Branches,
    Failed,
    Fetched,
    Page,
    Position,
    Served,
    Taken,
    answered,
    cloud_query,
    decode_marker,
    failures,
    next_link,
    take,
)
from openstackoid.proxy.request import ProxyRequest
from openstackoid.proxy.routing import AllNode, AnyNode, CloudNode, Node
from openstackoid.registry import Cloud

if TYPE_CHECKING:
    from openstackoid.proxy.executor import Executor


_JSON = {"Content-Type": "application/json"}


def parse_limit(text: str) -> int:
    if not text.isdigit():
        raise BadRequest(f"limit must be a non-negative integer, not {text!r}")
    return int(text)


GetPage = Callable[[Cloud, str | None], Awaitable[Fetched]]
"""A cloud's page after its own marker (None: its first page)."""


@dataclass(frozen=True)
class Step:
    """One page of a listing, before it becomes a response."""

    taken: Taken
    after: Position
    template: Page | None
    """The first cloud page in scope order: the answer takes its shape."""
    asked: int


async def step(
    node: Node, position: Position, limit: int, get_page: GetPage, concurrency: int
) -> Step:
    """Fetch every cloud still listing, then hand out the first `limit` items."""
    fetcher = Fetcher(get_page, concurrency)
    fetched = await fetcher.fetch(node, position)
    taken = Taken(limit)
    after = take(fetched, position, taken)
    return Step(taken, after, _first_page(fetched), fetcher.asked)


async def paged(executor: Executor, request: ProxyRequest, node: Node, limit: int) -> Buffered:
    """One page of at most `limit` items, linked to the next by a composite marker."""
    params = request.params
    marker = params.get("marker")
    position: Position = None
    if marker and not marker.startswith(PREFIX):
        resumed = executor.handed_out.recall(request, marker)
        if resumed is None:
            raise BadRequest(
                f"marker {marker[:200]!r} was not issued by openstackoid, nor is it the last "
                "item of a page it served for this listing: follow the listing's next link"
            )
        if resumed.position == DONE:  # the listing ended there: as a cloud, an empty page
            return made(200, CIMultiDict(_JSON), json.dumps({resumed.list_key: []}).encode())
        position = resumed.position
    elif marker:
        position = decode_marker(marker)
    refusals: list[Buffered] = []
    get_page = _get_page(executor, request, params, refusals)
    result = await step(node, position, limit, get_page, executor.limits.concurrency)
    executor.observe_width(result.asked)
    taken, after = result.taken, result.after
    if not taken.items and refusals and len(refusals) == result.asked:
        # Every cloud asked said no (a token none accepts, a filter none knows): their
        # answer, as the unmerged listing gives it, so a client re-authenticates on a 401.
        return refusal(refusals, taken.failures)
    if not taken.items and taken.failures and after != DONE and (limit or not result.template):
        # An empty page linking the next would send clients round in circles while a
        # cloud is down: an error instead, and the same marker resumes once it is back.
        raise UpstreamUnavailable(
            "no cloud still listing answered: "
            + "; ".join(taken.failures)[:4000]
            + " (the same marker resumes the listing)"
        )
    if result.template is None:
        raise BadRequest(f"marker {marker!r} leaves nothing to list")
    _remember_last(executor, request, result.template, taken, after)
    return _answer(request, params, result.template, taken, after)


def _remember_last(
    executor: Executor, request: ProxyRequest, template: Page, page: Taken, after: Position
) -> None:
    """The page's last item id, for a client that pages on by it (raw_markers.py)."""
    key = list_key(template.document)
    if not page.items or key is None:
        return
    last = page.items[-1][1]
    if isinstance(last, dict) and isinstance(last.get("id"), str | int):
        executor.handed_out.remember(request, str(last["id"]), after, key)


def _get_page(
    executor: Executor,
    request: ProxyRequest,
    params: MultiDictProxy[str],
    refusals: list[Buffered],
) -> GetPage:
    """Fetches a cloud's page; answers below 500 that are not pages go to `refusals`."""

    async def get_page(cloud: Cloud, own_marker: str | None) -> Fetched:
        try:
            raw = await executor.buffer(request, cloud, query=cloud_query(params, own_marker))
        except ProxyError as exc:
            return Failed(exc.message)
        answer = executor.finish(request, raw)
        if answer.status != 200:
            if answer.status < 500:
                refusals.append(answer)
            return Failed(f"{cloud.name}: status {answer.status}", answered=answer.status < 500)
        document = json_object(answer.body)
        key = list_key(document)
        if document is None or key is None:
            return Failed(f"{cloud.name}: a list page that is not JSON")
        more = has_more(document, request.service.links)
        return Page(cloud.name, document, list(document[key]), more)

    return get_page


def _answer(
    request: ProxyRequest,
    params: MultiDictProxy[str],
    template: Page,
    page: Taken,
    after: Position,
) -> Buffered:
    document = template.document
    key = list_key(document)
    assert key is not None  # a Page holds a list
    items = []
    for cloud, item in page.items:
        if isinstance(item, dict):
            item.setdefault(CLOUD_TAG, cloud)
        items.append(item)
    document[key] = items
    drop_links(document)
    if after != DONE and page.limit:  # limit=0 links no next page, as Glance does
        link = next_link(request.path, params, after)
        link_next(document, key, request.service.links, link, request.proxy_prefix)
    headers: CIMultiDict[str] = CIMultiDict(_JSON)
    if page.failures:
        headers[PARTIAL_FAILURE] = "; ".join(page.failures)[:4000]
    return made(200, headers, json.dumps(document).encode())


def _first_page(fetched: Fetched) -> Page | None:
    """The first cloud page in scope order: the answer takes its shape."""
    match fetched:
        case Page():
            return fetched
        case Failed():
            return None
        case Branches(fetched=branches):
            return next(filter(None, (_first_page(f) for _, f in branches)), None)
        case Served(fetched=inner):
            return _first_page(inner)
        case _:
            assert_never(fetched)


class Fetcher:
    """The fetch of one page: every cloud the position says is still listing."""

    def __init__(self, get_page: GetPage, concurrency: int) -> None:
        self.get_page = get_page
        # Only cloud calls hold it: a group waiting on its members holds nothing.
        self.semaphore = asyncio.Semaphore(concurrency)
        self.asked = 0

    async def fetch(self, node: Node, position: Position) -> Fetched:
        match node:
            case CloudNode(cloud=cloud):
                if position is not None and not isinstance(position, str):
                    raise _misfit(node)
                return await self._page(cloud, position)
            case AllNode():
                return await self._branches(node, position)
            case AnyNode():
                return await self._group(node, position)
            case _:
                assert_never(node)

    async def _branches(self, node: AllNode, position: Position) -> Fetched:
        if position is not None and not isinstance(position, dict):
            raise _misfit(node)
        # A branch the marker lacks joined after the listing began: skipped, not
        # started over, or its first items would be handed out in the middle.
        active = [
            (key, child, position[key] if position is not None else None)
            for key, child in branches(node)
            if position is None or position.get(key, DONE) != DONE
        ]
        results = await asyncio.gather(
            *(self.fetch(child, at) for _, child, at in active), return_exceptions=True
        )
        fetched: list[tuple[str, Fetched]] = []
        for (key, _, _), result in zip(active, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            fetched.append((key, result))
        return Branches(tuple(fetched))

    async def _group(self, node: AnyNode, position: Position) -> Fetched:
        members = dict(group_members(node))
        if isinstance(position, tuple):
            name, at = position
            if name not in members:
                raise BadRequest(f"the marker names {name!r}, not a member of {node_key(node)}")
            return Served(name, await self.fetch(members[name], at), committed=True)
        if position is not None:
            raise _misfit(node)
        skipped: list[str] = []
        for name, member in members.items():  # first page: fail over like `|`
            fetched = await self.fetch(member, None)
            if answered(fetched):
                return Served(name, fetched, committed=False, skipped=tuple(skipped))
            skipped += failures(fetched)
        return Failed("; ".join(skipped))

    async def _page(self, cloud: Cloud, own_marker: str | None) -> Fetched:
        async with self.semaphore:
            self.asked += 1
            return await self.get_page(cloud, own_marker)


def _misfit(node: Node) -> BadRequest:
    return BadRequest(f"the marker does not fit the scope's {node_key(node)}: was it changed?")


def _spliced(children: tuple[Node, ...], kind: type[AllNode | AnyNode]) -> Iterator[Node]:
    """Children with nested nodes of the same kind spliced in: (a & b) & c = a & b & c."""
    for child in children:
        if isinstance(child, kind):
            yield from _spliced(child.children, kind)
        else:
            yield child


def branches(node: AllNode) -> list[tuple[str, Node]]:
    """An `&`'s branches by key, each once (a selector inside `&` may name a cloud again)."""
    found: dict[str, Node] = {}
    for child in _spliced(node.children, AllNode):
        found.setdefault(node_key(child), child)
    return list(found.items())


def group_members(node: AnyNode) -> list[tuple[str, Node]]:
    found: dict[str, Node] = {}
    for child in _spliced(node.children, AnyNode):
        found.setdefault(node_key(child), child)
    return list(found.items())


def node_key(node: Node) -> str:
    """A node's name in a marker: `cloud-1`, `cloud-1|cloud-2`, `(cloud-1&cloud-2)|cloud-3`."""
    match node:
        case CloudNode(cloud=cloud):
            return cloud.name
        case AllNode():
            return "&".join(_operand_key(c) for c in _spliced(node.children, AllNode))
        case AnyNode():
            return "|".join(_operand_key(c) for c in _spliced(node.children, AnyNode))
        case _:
            assert_never(node)


def _operand_key(node: Node) -> str:
    return node_key(node) if isinstance(node, CloudNode) else f"({node_key(node)})"
