"""The handler's hooks on cloud answers: links point at the proxy, a token's catalog too,
and the scope a token was issued with is remembered."""

from __future__ import annotations

import json
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from openstackoid.proxy.buffered import Buffered
from openstackoid.proxy.identity import parse_expiry
from openstackoid.proxy.request import ProxyRequest
from openstackoid.proxy.rewrite_catalog import rewrite_catalog
from openstackoid.proxy.rewrite_links import rewrite_body, rewrite_headers
from openstackoid.proxy.scope_memory import ScopeStore
from openstackoid.proxy.upstream.connection import UpstreamResponse


def rewrite_token(body: bytes, request: ProxyRequest) -> tuple[bytes, dict[str, Any] | None]:
    """A token answer with its catalog pointing at the proxy, and the token it holds."""
    try:
        document = json.loads(body)
    except ValueError:
        return body, None
    if not isinstance(document, dict):
        return body, None
    token = document.get("token")
    catalog = token.get("catalog") if isinstance(token, dict) else document.get("catalog")
    if isinstance(catalog, list):
        rewrite_catalog(catalog, request.public_url, request.scoped_types)
    return json.dumps(document).encode(), token if isinstance(token, dict) else None


class AnswerHooks:
    def __init__(self, memory: ScopeStore) -> None:
        self.memory = memory

    def whole(self, request: ProxyRequest, response: UpstreamResponse, body: bytes) -> bytes:
        """relay.RewriteWhole: one cloud's whole JSON answer."""
        body = self.token_answer(request, response.headers, body)
        return rewrite_body(body, response.root, request.proxy_prefix)

    def token_answer(
        self, request: ProxyRequest, headers: CIMultiDictProxy[str], body: bytes
    ) -> bytes:
        if request.path not in request.service.token_paths:
            return body
        body, token = rewrite_token(body, request)
        subject = headers.get("X-Subject-Token")
        if subject and request.scope_text and token is not None:
            # Remember the scope for the token's life: services acting for the user send
            # the token without the header.
            try:
                deadline: float | None = parse_expiry(token.get("expires_at"))
            except ValueError:
                deadline = None  # the token is the client's to judge; remember it an hour
            self.memory.remember(subject, request.scope_text, deadline)
        return body

    def links(self, request: ProxyRequest, answer: Buffered) -> Buffered:
        """executor.Finish: one cloud's whole answer, its links pointing at the proxy."""
        if not answer.root:
            return answer
        headers = CIMultiDict(answer.headers)
        rewrite_headers(headers, answer.root, request.proxy_prefix)
        body = answer.body
        if "Content-Encoding" not in headers:
            body = rewrite_body(body, answer.root, request.proxy_prefix)
        return answer.with_body(body, headers)
