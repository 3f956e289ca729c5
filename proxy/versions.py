"""Version discovery answered for every scope, so the call after it carries the real error.

keystoneauth asks a service's unversioned root (`GET /image`, `/compute/`) or a version
document (`/compute/v2.1/`) before the first real call, and turns any error there into
"Failed to contact the endpoint ... does not have any supported versions": the proxy's
"Unknown cloud 'clod-2'" or "cloud 'cloud-2' is unreachable" never reached the user.
So when the routed answer to a discovery path is an error, the proxy answers instead with
the same document of a healthy cloud of the service type (remembered from earlier routed
answers, else fetched), its links pointing at the proxy. The real call that follows gets
the proxy's error. A routed answer that works is relayed as the cloud sent it (its own
versions and microversions) and remembered.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web
from cachetools import TTLCache
from multidict import CIMultiDict, CIMultiDictProxy

from openstackoid.proxy.buffered import Buffered, buffer
from openstackoid.proxy.errors import ProxyError
from openstackoid.proxy.listing import CLOUD_TAG
from openstackoid.proxy.rewrite_links import rewrite_body
from openstackoid.proxy.services import IDENTITY
from openstackoid.proxy.upstream.client import Send, UpstreamRequest
from openstackoid.registry import Cloud, Registry

# "", "/", "/v2", "/v2.1/": what keystoneauth's _get_discovery_url_choices asks.
_DISCOVERY_PATH = re.compile(r"/?|/v\d{1,3}(?:\.\d{1,3})?/?")
STAND_IN = "X-Openstackoid-Versions-From"
"""Header of a stood-in document: the cloud it came from and why the routed one failed."""
MAX_DOCUMENT_BYTES = 64 * 1024
FETCH_TRIES = 3
"""Clouds asked in turn for a document nobody remembers, while they fail to answer: a
request costs at most one upstream call once a cloud answers (an unknown path: its 404)."""


def is_discovery(method: str, path: str) -> bool:
    """A GET of a service's root or of a version document (`path` after `/<service>`)."""
    return method == "GET" and len(path) <= 9 and _DISCOVERY_PATH.fullmatch(path) is not None


@dataclass(frozen=True)
class Document:
    status: int
    body: bytes
    prefix: str
    """The proxy prefix the body's links point at (rewritten per request's public URL)."""
    cloud: str


def _is_version_document(status: int, body: bytes) -> bool:
    if status not in (200, 300) or len(body) > MAX_DOCUMENT_BYTES:
        return False
    if CLOUD_TAG.encode() in body:  # a merge of several clouds' lists, not one document
        return False
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return isinstance(document, dict) and ("versions" in document or "version" in document)


def _key(service_type: str, path: str) -> tuple[str, str]:
    return service_type, path.rstrip("/")


class VersionDocuments:
    """Bounded: at most `max_documents` (service type, path) documents, each kept `ttl`
    seconds; a path no cloud could answer is not asked again for `miss_ttl` seconds."""

    def __init__(
        self,
        registry: Registry,
        send: Send,
        read_timeout: float,
        max_documents: int = 256,
        ttl: float = 3600.0,
        miss_ttl: float = 10.0,
    ) -> None:
        self.registry = registry
        self.send = send
        self.read_timeout = read_timeout
        self._documents: TTLCache[tuple[str, str], Document] = TTLCache(max_documents, ttl)
        self._misses: TTLCache[tuple[str, str], bool] = TTLCache(max_documents, miss_ttl)
        self._fetching: dict[tuple[str, str], asyncio.Future[Document | None]] = {}

    async def settle(
        self, response: web.StreamResponse, service_type: str, path: str, prefix: str
    ) -> web.StreamResponse:
        """The routed answer to a discovery path, or a healthy cloud's document for it."""
        if not isinstance(response, web.Response) or response.prepared:
            return response
        body = response.body if isinstance(response.body, bytes) else b""
        key = _key(service_type, path)
        if _is_version_document(response.status, body):
            self._documents[key] = Document(response.status, body, prefix, "")
            return response
        if response.status < 400:
            return response
        document = self._documents.get(key) or await self._fetched(service_type, path, prefix)
        if document is None:
            return response
        return _answer(document, prefix, _reason(body, response.status))

    async def _fetched(self, service_type: str, path: str, prefix: str) -> Document | None:
        key = _key(service_type, path)
        if key in self._misses:
            return None
        running = self._fetching.get(key)
        if running is not None:  # one fetch per document, however many clients wait
            return await asyncio.shield(running)
        future: asyncio.Future[Document | None] = asyncio.get_running_loop().create_future()
        self._fetching[key] = future
        try:
            document = await self._fetch(service_type, path, prefix)
        except BaseException:
            # Those waiting on this fetch keep their own routed error: none may wait for good
            # on a fetch that failed unexpectedly or whose request was cancelled.
            future.set_result(None)
            raise
        finally:
            del self._fetching[key]
        future.set_result(document)
        if document is None:
            self._misses[key] = True
        else:
            self._documents[key] = document
        return document

    async def _fetch(self, service_type: str, path: str, prefix: str) -> Document | None:
        for cloud in _candidates(self.registry, service_type):
            request = UpstreamRequest(
                cloud, service_type, None, "GET", path, "", _ACCEPT_JSON, None, None
            )
            try:
                answer = await buffer(self.send, request, self.read_timeout)
            except ProxyError:
                continue  # that cloud is down too (or its circuit is open): the next
            if _is_version_document(answer.status, answer.body):
                return _document(answer, prefix)
            if answer.status < 500:
                return None  # a cloud that answers has no such document: none will
        return None


_ACCEPT_JSON = CIMultiDictProxy(CIMultiDict({"Accept": "application/json"}))


def _candidates(registry: Registry, service_type: str) -> Iterator[Cloud]:
    """The first FETCH_TRIES clouds that may serve the service type (a cloud without
    registered endpoints finds them in its catalog)."""
    tries = 0
    for cloud in registry:
        if service_type == IDENTITY or not cloud.endpoints or service_type in cloud.endpoints:
            yield cloud
            tries += 1
            if tries == FETCH_TRIES:
                return


def _document(answer: Buffered, prefix: str) -> Document:
    body = rewrite_body(answer.body, answer.root, prefix) if answer.root else answer.body
    return Document(answer.status, body, prefix, answer.cloud)


def _reason(body: bytes, status: int) -> str:
    """The routed answer's error message, for the header that tells a stand-in."""
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = f"status {status}"
    return " ".join(str(message).split())[:300]


def _answer(document: Document, prefix: str, reason: str) -> web.Response:
    body = document.body
    if document.prefix != prefix:
        body = body.replace(document.prefix.encode(), prefix.encode())
    response = web.Response(status=document.status, body=body, content_type="application/json")
    response.headers[STAND_IN] = f"{document.cloud or 'another cloud'} ({reason})".encode(
        "ascii", "replace"
    ).decode()
    return response
