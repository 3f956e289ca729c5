"""`&` fan-out with merge, `|` failover, over buffered upstream answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, assert_never

from multidict import CIMultiDict

from proxy.errors import BadRequest, ProxyError, UpstreamUnavailable
from proxy.forwarding import Buffered, Call, Forwarder, gather_bounded
from proxy.pagination import DONE, GROUP_SEPARATOR, cloud_query, decode_marker, next_link
from proxy.routing import AllNode, AnyNode, CloudNode, Node, upstream_url
from registry import Cloud

CLOUD_TAG = "openstackoid:cloud"
PARTIAL_FAILURE = "X-Openstack-Partial-Failure"
MAX_PAGES = 100
"""Pages followed per cloud when merging a list; bounds the work of one request."""
_LINK_KEYS = frozenset({"next", "first", "schema", "links"})


def _list_key(document: Any) -> str | None:
    """The key of the one list of resources in a collection body, if it is one."""
    if not isinstance(document, dict):
        return None
    keys = [
        k
        for k, v in document.items()
        if isinstance(v, list) and k not in _LINK_KEYS and not k.endswith("_links")
    ]
    return keys[0] if len(keys) == 1 else None


def _next_url(document: dict[str, Any], cloud: Cloud, call: Call) -> str | None:
    """The upstream URL of the next page (glance `next`, nova/neutron `*_links` rel=next)."""
    prefix = call.proxy_prefix
    root = upstream_url(cloud, call.decision.service_type, "")
    nxt = document.get("next")
    if isinstance(nxt, str):
        return root + nxt if nxt.startswith("/") else nxt.replace(prefix, root, 1)
    for key, value in document.items():
        if key.endswith("_links") and isinstance(value, list):
            for link in value:
                if isinstance(link, dict) and link.get("rel") == "next":
                    href = str(link.get("href", ""))
                    return href.replace(prefix, root, 1)
    return None


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
    key = _list_key(document)
    if key is None:
        return first
    items: list[Any] = list(document[key])
    url = _next_url(document, cloud, call)
    pages = 1
    while url and pages < MAX_PAGES:
        page = await forwarder.buffer_one(call, cloud, url)
        if page.status != 200:
            break
        page_doc = _json_object(page.body)
        if page_doc is None:
            raise UpstreamUnavailable(f"cloud {cloud.name!r} sent a list page that is not JSON")
        items.extend(page_doc.get(key) or [])
        url = _next_url(page_doc, cloud, call)
        pages += 1
    document[key] = items
    document.pop("next", None)
    for link_key in [k for k in document if k.endswith("_links")]:
        del document[link_key]
    return Buffered(first.cloud, first.status, first.headers, json.dumps(document).encode())


async def execute(forwarder: Forwarder, call: Call, node: Node) -> Buffered:
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
            result = await execute(forwarder, call, child)
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
    limit = call.request.query.get("limit")
    sources = _sources(children)
    if call.request.method == "GET" and limit is not None and sources is not None:
        if not limit.isdigit():
            raise BadRequest(f"limit must be a non-negative integer, not {limit!r}")
        return await _paged_fan_out(forwarder, call, sources, int(limit))
    results = await gather_bounded(
        forwarder.config.fanout_concurrency, *(execute(forwarder, call, c) for c in children)
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
        # Every cloud said no: a 404 everywhere is a plain 404.
        answers.sort(key=lambda a: (a.status != 404, -a.status))
        merged = answers[0]
    else:
        merged = _merge(ok)
    if failures:
        merged.headers[PARTIAL_FAILURE] = "; ".join(failures)[:4000]
    return merged


def _has_more(document: dict[str, Any]) -> bool:
    if isinstance(document.get("next"), str):
        return True
    return any(
        isinstance(link, dict) and link.get("rel") == "next"
        for key, links in document.items()
        if key.endswith("_links") and isinstance(links, list)
        for link in links
    )


@dataclass(frozen=True)
class Source:
    """One branch of a paged `&`: a cloud, or a failover group of clouds (`a | b`). A group
    pages on the member that answered its first page: another member's items differ."""

    key: str
    members: tuple[Cloud, ...]


def _sources(children: tuple[Node, ...]) -> list[Source] | None:
    """The `&` branches as page sources, or None when a branch is deeper than a cloud or a
    group of clouds (then first pages are merged, without a composite marker)."""
    sources = []
    for child in children:
        if isinstance(child, CloudNode):
            sources.append(Source(child.cloud.name, (child.cloud,)))
        elif isinstance(child, AnyNode) and all(isinstance(c, CloudNode) for c in child.children):
            members = tuple(c.cloud for c in child.children if isinstance(c, CloudNode))
            sources.append(Source("|".join(m.name for m in members), members))
        else:
            return None
    return sources


def _position(source: Source, value: str | None) -> tuple[Cloud | None, str | None]:
    """(member serving the source, its own marker) from the composite marker's entry."""
    if value is None:
        return None, None
    if len(source.members) == 1:
        return source.members[0], value
    member, _, marker = value.partition(GROUP_SEPARATOR)
    chosen = next((m for m in source.members if m.name == member), None)
    if chosen is None:
        raise BadRequest(f"the marker names {member!r}, not a member of {source.key}")
    return chosen, marker


async def _paged_fan_out(
    forwarder: Forwarder, call: Call, sources: list[Source], limit: int
) -> Buffered:
    """One page of at most `limit` items across clouds, linked to the next by a composite
    marker (see pagination.py)."""
    query = dict(call.request.query)
    marker = query.get("marker")
    # A source absent from a composite marker joined after the listing began: skip it
    # rather than restart it and repeat items.
    state = decode_marker(marker) if marker else dict.fromkeys((s.key for s in sources), None)
    active = [s for s in sources if s.key in state and state[s.key] != DONE]

    async def fetch_from(cloud: Cloud, own_marker: str | None) -> Buffered:
        cloud = await forwarder.with_endpoints(cloud, call.decision.service_type)
        url = upstream_url(cloud, call.decision.service_type, call.decision.path)
        return await forwarder.buffer_one(call, cloud, f"{url}?{cloud_query(query, own_marker)}")

    async def fetch(source: Source) -> tuple[Cloud, Buffered]:
        member, own_marker = _position(source, state[source.key])
        if member is not None:
            return member, await fetch_from(member, own_marker)
        failures: list[str] = []
        for candidate in source.members:  # first page: fail over like `|`
            try:
                answer = await fetch_from(candidate, None)
            except ProxyError as exc:
                failures.append(exc.message)
                continue
            if answer.status < 500:
                return candidate, answer
            failures.append(f"{candidate.name}: status {answer.status}")
        raise UpstreamUnavailable("; ".join(failures))

    results = await gather_bounded(forwarder.config.fanout_concurrency, *map(fetch, active))
    items: list[Any] = []
    failures: list[str] = []
    template: dict[str, Any] | None = None
    key: str | None = None
    for source, outcome in zip(active, results, strict=True):
        if isinstance(outcome, ProxyError):
            failures.append(outcome.message)  # its marker stays: the next page retries it
            continue
        if isinstance(outcome, BaseException):
            raise outcome
        cloud, result = outcome
        if result.status != 200:
            failures.append(f"{cloud.name}: status {result.status}")
            continue
        document = _json_object(result.body)
        if document is None:
            failures.append(f"{cloud.name}: a list page that is not JSON")
            continue
        key = key or _list_key(document)
        if template is None:
            template = document
        page = list(document.get(key) or []) if key else []
        taken = page[: max(0, limit - len(items))]
        for item in taken:
            if isinstance(item, dict):
                item.setdefault(CLOUD_TAG, cloud.name)
        items.extend(taken)
        if taken and (len(taken) < len(page) or _has_more(document)):
            last = taken[-1]
            own = str(last.get("id") if isinstance(last, dict) else last)
            grouped = len(source.members) > 1
            state[source.key] = f"{cloud.name}{GROUP_SEPARATOR}{own}" if grouped else own
        elif len(taken) == len(page) and not _has_more(document):
            state[source.key] = DONE
    if template is None or key is None:
        raise UpstreamUnavailable("no cloud answered: " + "; ".join(failures))
    template[key] = items
    template.pop("next", None)
    for link_key in [k for k in template if k.endswith("_links")]:
        del template[link_key]
    if any(value != DONE for value in state.values()):
        link = next_link(call.decision.path, query, state)
        if call.decision.service_type == "image":
            template["next"] = link  # glance: relative to the endpoint
        else:
            template[f"{key}_links"] = [{"rel": "next", "href": call.proxy_prefix + link}]
    headers: CIMultiDict[str] = CIMultiDict({"Content-Type": "application/json"})
    if failures:
        headers[PARTIAL_FAILURE] = "; ".join(failures)[:4000]
    return Buffered("", 200, headers, json.dumps(template).encode())


def _json_object(body: bytes) -> dict[str, Any] | None:
    """A cloud's JSON object, or None when it sent something else (a cut or garbled page)."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _merge(answers: list[Buffered]) -> Buffered:
    """Collections are concatenated, each item tagged with its cloud; a single resource
    comes from the first cloud that has it."""
    documents = []
    garbled = []
    for answer in answers:
        document = _json_object(answer.body)
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
    key = _list_key(documents[0])
    if key is None or any(_list_key(d) != key for d in documents):
        return answers[0]
    items: list[Any] = []
    for answer, document in zip(answers, documents, strict=True):
        for item in document[key]:
            if isinstance(item, dict):
                item.setdefault(CLOUD_TAG, answer.cloud)
            items.append(item)
    merged = documents[0]
    merged[key] = items
    # One cloud's `next` would carry its own marker to every cloud: no composite marker
    # exists yet, so a merged page has no next link.
    merged.pop("next", None)
    for link_key in [k for k in merged if k.endswith("_links")]:
        del merged[link_key]
    headers = CIMultiDict(answers[0].headers)
    headers.popall("Content-Length", None)
    return Buffered("", 200, headers, json.dumps(merged).encode())
