"""`&` fan-out with merge, `|` failover, over buffered upstream answers."""

from __future__ import annotations

import json
from typing import Any, assert_never

from multidict import CIMultiDict

from proxy.errors import ProxyError, UpstreamUnavailable
from proxy.forwarding import Buffered, Call, Forwarder, gather_bounded
from proxy.listing import CLOUD_TAG as CLOUD_TAG
from proxy.listing import PARTIAL_FAILURE as PARTIAL_FAILURE
from proxy.listing import drop_links, json_object, list_key, next_href, refusal
from proxy.paged import paged, parse_limit
from proxy.routing import AllNode, AnyNode, CloudNode, Node, fans_out, upstream_url
from registry import Cloud

MAX_PAGES = 100
"""Pages followed per cloud when merging a list; bounds the work of one request."""


def _next_url(document: dict[str, Any], cloud: Cloud, call: Call) -> str | None:
    """The upstream URL of the next page: the cloud's link (relative for glance, else
    rewritten to point at the proxy) turned back into the cloud's own."""
    href = next_href(document)
    if href is None:
        return None
    root = upstream_url(cloud, call.decision.service_type, "")
    if href.startswith("/") and isinstance(document.get("next"), str):
        return root + href  # glance: relative to the endpoint
    return href.replace(call.proxy_prefix, root, 1)


async def _collect_pages(forwarder: Forwarder, call: Call, cloud: Cloud) -> Buffered:
    """One cloud's whole collection: its pages are followed so a merge loses nothing."""
    cloud = await forwarder.with_endpoints(cloud, call.decision.service_type)
    first = await forwarder.buffer_one(call, cloud)
    if call.request.method != "GET" or first.status != 200 or "limit" in call.request.query:
        return first
    try:
        document = json.loads(first.body)
    except ValueError:
        return first
    key = list_key(document)
    if key is None:
        return first
    items: list[Any] = list(document[key])
    url = _next_url(document, cloud, call)
    pages = 1
    while url and pages < MAX_PAGES:
        page = await forwarder.buffer_one(call, cloud, url)
        if page.status != 200:
            break
        page_doc = json_object(page.body)
        if page_doc is None:
            raise UpstreamUnavailable(f"cloud {cloud.name!r} sent a list page that is not JSON")
        items.extend(page_doc.get(key) or [])
        url = _next_url(page_doc, cloud, call)
        pages += 1
    document[key] = items
    drop_links(document)
    return Buffered(first.cloud, first.status, first.headers, json.dumps(document).encode())


async def execute(forwarder: Forwarder, call: Call, node: Node) -> Buffered:
    """The answer of several clouds: merged, failed over, or one page of a paged listing."""
    limit = call.request.query.get("limit")
    if call.request.method == "GET" and limit is not None and fans_out(node):
        return await paged(forwarder, call, node, parse_limit(limit))
    return await _execute(forwarder, call, node)


async def _execute(forwarder: Forwarder, call: Call, node: Node) -> Buffered:
    match node:
        case CloudNode(cloud=cloud):
            return await _collect_pages(forwarder, call, cloud)
        case AnyNode(children=children):
            return await _failover(forwarder, call, children)
        case AllNode(children=children):
            return await _fan_out(forwarder, call, children)
        case _:
            assert_never(node)


async def _failover(forwarder: Forwarder, call: Call, children: tuple[Node, ...]) -> Buffered:
    """First child that answers below 500; the last answer or error otherwise."""
    failures: list[str] = []
    last: Buffered | None = None
    for child in children:
        try:
            result = await _execute(forwarder, call, child)
        except ProxyError as exc:
            failures.append(exc.message)
            continue
        if result.status < 500:
            if failures:
                result.headers[PARTIAL_FAILURE] = "; ".join(failures)
            return result
        failures.append(f"{result.cloud}: status {result.status}")
        last = result
    if last is not None:
        return last
    raise UpstreamUnavailable("no cloud answered: " + "; ".join(failures))


async def _fan_out(forwarder: Forwarder, call: Call, children: tuple[Node, ...]) -> Buffered:
    forwarder.metrics.fanout_width.observe(len(children))
    results = await gather_bounded(
        forwarder.config.fanout_concurrency, *(_execute(forwarder, call, c) for c in children)
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
    merged = _merge(ok)
    if failures:
        merged.headers[PARTIAL_FAILURE] = "; ".join(failures)[:4000]
    return merged


def _merge(answers: list[Buffered]) -> Buffered:
    """Collections are concatenated, each item tagged with its cloud; a single resource
    comes from the first cloud that has it."""
    documents = []
    garbled = []
    for answer in answers:
        document = json_object(answer.body)
        if document is None:
            garbled.append(answer)
        else:
            documents.append(document)
    if garbled:
        if not documents:
            return answers[0]  # nothing to merge: relayed as is, like a single cloud's body
        # A cloud whose list is not JSON is left out and named, like a cloud that failed.
        answers = [a for a in answers if a not in garbled]
        names = ", ".join(a.cloud for a in garbled)
        for answer in answers:
            answer.headers[PARTIAL_FAILURE] = f"{names}: an answer that is not JSON"
    key = list_key(documents[0])
    if key is None or any(list_key(d) != key for d in documents):
        return answers[0]
    items: list[Any] = []
    for answer, document in zip(answers, documents, strict=True):
        for item in document[key]:
            if isinstance(item, dict):
                item.setdefault(CLOUD_TAG, answer.cloud)
            items.append(item)
    merged = documents[0]
    merged[key] = items
    # Each cloud's pages were followed: the merged whole has no next page.
    drop_links(merged)
    headers = CIMultiDict(answers[0].headers)
    headers.popall("Content-Length", None)
    return Buffered("", 200, headers, json.dumps(merged).encode())
