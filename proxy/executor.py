"""The plan executor: a route's tree of clouds run against `send`.

It sees only the request value (proxy/request.py) and a `send` coroutine, never aiohttp's
request nor a socket: tests drive it with a fake `send`. One cloud is relayed as it
streams (the handler writes it out); `&` merges, `|` fails over, and a fanned-out
`?limit=N` is one page across clouds (paged.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NamedTuple, assert_never

from openstackoid.proxy.buffered import Buffered, buffer, held
from openstackoid.proxy.errors import ProxyError, Unauthorized, UpstreamUnavailable
from openstackoid.proxy.fanout import MAX_PAGES, collected, merge
from openstackoid.proxy.listing import PARTIAL_FAILURE, json_object, list_key, next_href, refusal
from openstackoid.proxy.paged import paged, parse_limit
from openstackoid.proxy.raw_markers import HandedOut
from openstackoid.proxy.request import ProxyRequest
from openstackoid.proxy.routing import AllNode, AnyNode, CloudNode, Node, fans_out
from openstackoid.proxy.services import Links
from openstackoid.proxy.upstream.client import Send
from openstackoid.proxy.upstream.connection import UpstreamResponse
from openstackoid.registry import Cloud


class Limits(NamedTuple):
    concurrency: int
    """Clouds one fanned-out request talks to at once."""
    read_timeout: float
    """Seconds each wait for more of a cloud's answer may take."""
    max_bytes: int = 4 * 1024 * 1024
    """The most of one cloud's answer held to merge or fail over (max_rewrite_bytes)."""


Finish = Callable[[ProxyRequest, Buffered], Buffered]
"""The handler's rewrite of one cloud's whole answer (its links to the proxy)."""


def unchanged(_request: ProxyRequest, answer: Buffered) -> Buffered:
    return answer


def _ignore(_width: int) -> None:
    return None


class Executor:
    def __init__(
        self,
        send: Send,
        limits: Limits,
        finish: Finish = unchanged,
        observe_width: Callable[[int], None] = _ignore,
        handed_out: HandedOut | None = None,
    ) -> None:
        self.send = send
        self.limits = limits
        self.finish = finish
        self.observe_width = observe_width
        self.handed_out = handed_out or HandedOut()
        """The last item of each page served: clients page on by its id (raw_markers.py)."""

    def relay_one(self, request: ProxyRequest, cloud: Cloud) -> Awaitable[UpstreamResponse]:
        """One cloud: its answer as it streams in (the hot path: send's own coroutine, no
        frame of ours around it)."""
        return self.send(request.to(cloud))

    async def execute(self, request: ProxyRequest, node: Node) -> Buffered:
        """The answer of several clouds: merged, failed over, or one page of a listing."""
        if request.method == "GET" and fans_out(node):
            limit = request.params.get("limit")
            if limit is not None:
                return await paged(self, request, node, parse_limit(limit))
        return await self._execute(request, node)

    async def first_answer(
        self, request: ProxyRequest, node: AnyNode
    ) -> tuple[int, UpstreamResponse, list[str]]:
        """`a | b | c` of single clouds: the first answer below 500, still streaming (a
        download under failover held whole took +1 GB, issue 15); with the member's index
        and what failed before it. The last member's answer is returned whatever its
        status."""
        failures: list[str] = []
        last = node.children[-1]
        for index, child in enumerate(node.children):
            assert isinstance(child, CloudNode), "first_answer takes clouds, not fan-outs"
            try:
                response = await self.send(request.to(child.cloud))
            except Unauthorized:
                raise  # the token's issuer refused it: no other member will take it
            except ProxyError as exc:
                failures.append(exc.message)
                continue
            if response.status < 500 or child is last:
                return index, response, failures
            failures.append(f"{child.cloud.name}: status {response.status}")
            response.release()
        raise UpstreamUnavailable("no cloud answered: " + "; ".join(failures))

    async def failover_from(
        self,
        request: ProxyRequest,
        node: AnyNode,
        index: int,
        response: UpstreamResponse,
        failures: list[str],
    ) -> Buffered:
        """A JSON answer of first_answer's, collected like a buffered failover's: its
        cloud's pages followed (within max_rewrite_bytes each); if that fails, the next
        members are tried."""
        child = node.children[index]
        assert isinstance(child, CloudNode)
        result: Buffered | None = None
        try:
            first = await held(child.cloud.name, response, *self.limits[1:])
            result = self.finish(request, await self._collect_pages(request, child.cloud, first))
        except Unauthorized:
            raise
        except ProxyError as exc:
            failures.append(exc.message)
        rest = node.children[index + 1 :]
        if result is None or (result.status >= 500 and rest):
            if result is not None:
                failures.append(f"{result.cloud}: status {result.status}")
            if not rest:
                raise UpstreamUnavailable("no cloud answered: " + "; ".join(failures))
            result = await self._failover(request, rest)
        earlier = result.headers.get(PARTIAL_FAILURE)
        if failures:
            told = "; ".join(failures + ([earlier] if earlier else []))
            result = result.with_header(PARTIAL_FAILURE, told[:4000])
        return result

    async def buffer(
        self, request: ProxyRequest, cloud: Cloud, query: str | None = None, url: str | None = None
    ) -> Buffered:
        """One cloud's whole answer, as the cloud wrote it (its links not rewritten)."""
        limits = self.limits
        return await buffer(
            self.send, request.to(cloud, query, url), limits.read_timeout, limits.max_bytes
        )

    async def _execute(self, request: ProxyRequest, node: Node) -> Buffered:
        match node:
            case CloudNode(cloud=cloud):
                return self.finish(request, await self._collect_pages(request, cloud))
            case AnyNode(children=children):
                return await self._failover(request, children)
            case AllNode(children=children):
                return await self._fan_out(request, children)
            case _:
                assert_never(node)

    async def _collect_pages(
        self, request: ProxyRequest, cloud: Cloud, first: Buffered | None = None
    ) -> Buffered:
        """One cloud's whole collection: its pages are followed (by its own links, under
        its own endpoint) so a merge loses nothing. `first`: its first page, if read."""
        if first is None:
            first = await self.buffer(request, cloud)
        if request.method != "GET" or first.status != 200 or "limit" in request.params:
            return first
        document = json_object(first.body)
        key = list_key(document)
        if document is None or key is None:
            return first
        items: list[Any] = list(document[key])
        links = request.service.links
        url = _next_url(document, first.root, links)
        pages = 1
        while url and pages < MAX_PAGES:
            page = await self.buffer(request, cloud, url=url)
            if page.status != 200:
                break
            page_doc = json_object(page.body)
            if page_doc is None:
                raise UpstreamUnavailable(f"cloud {cloud.name!r} sent a list page that is not JSON")
            items.extend(page_doc.get(key) or [])
            url = _next_url(page_doc, first.root, links)
            pages += 1
        return collected(first, document, key, items)

    async def _failover(self, request: ProxyRequest, children: tuple[Node, ...]) -> Buffered:
        """First child that answers below 500; the last answer or error otherwise."""
        failures: list[str] = []
        last: Buffered | None = None
        for child in children:
            try:
                result = await self._execute(request, child)
            except Unauthorized:
                raise  # the token's issuer refused it: no other member will take it
            except ProxyError as exc:
                failures.append(exc.message)
                continue
            if result.status < 500:
                if failures:
                    result = result.with_header(PARTIAL_FAILURE, "; ".join(failures))
                return result
            failures.append(f"{result.cloud}: status {result.status}")
            last = result
        if last is not None:
            return last
        raise UpstreamUnavailable("no cloud answered: " + "; ".join(failures))

    async def _fan_out(self, request: ProxyRequest, children: tuple[Node, ...]) -> Buffered:
        self.observe_width(len(children))
        results = await gather_bounded(
            self.limits.concurrency, *(self._execute(request, c) for c in children)
        )
        answers: list[Buffered] = []
        failures: list[str] = []
        for result in results:
            if isinstance(result, Buffered):
                answers.append(result)
            elif isinstance(result, ProxyError):
                failures.append(result.message)
            elif isinstance(result, BaseException):
                raise result
        ok = [a for a in answers if 200 <= a.status < 300]
        failures += [f"{a.cloud}: status {a.status}" for a in answers if not 200 <= a.status < 300]
        if not ok:
            if not answers:
                raise UpstreamUnavailable("no cloud answered: " + "; ".join(failures))
            return refusal(answers, failures)
        merged, garbled = merge(ok)
        failures += garbled
        if failures:
            merged = merged.with_header(PARTIAL_FAILURE, "; ".join(failures)[:4000])
        return merged


def _next_url(document: dict[str, Any], root: str, links: Links) -> str | None:
    """The cloud's link to its next page, absolute."""
    href = next_href(document, links)
    if href is not None and links is Links.RELATIVE_NEXT:
        return root + href
    return href


async def gather_bounded(limit: int, *calls: Coroutine[Any, Any, Any]) -> list[Any]:
    """Run coroutines with at most `limit` at once; exceptions are returned, not raised."""
    semaphore = asyncio.Semaphore(limit)

    async def bounded(coro: Coroutine[Any, Any, Any]) -> Any:
        async with semaphore:
            return await coro

    return await asyncio.gather(*(bounded(c) for c in calls), return_exceptions=True)
