"""Every answer names the scope that served it (X-Openstackoid-Scope) and where the proxy
found it (X-Openstackoid-Scope-Source: header, url, token, default): a client can check that
its scope arrived instead of trusting it did."""

from __future__ import annotations

from aiohttp import web

from openstackoid.scope_dsl import Scope

SCOPE = "X-Openstackoid-Scope"
SOURCE = "X-Openstackoid-Scope-Source"
APPLIED = web.RequestKey("applied_scope", tuple[str | None, Scope | None, str])
"""(scope text as received, the scope applied, where it came from), set by the handler."""


class AppliedScopes:
    def __init__(self, max_texts: int = 4096) -> None:
        self._canonical: dict[str | None, str] = {}
        """Scope text -> canonical text: str(Scope) costs ~3 µs, a dict hit ~50 ns."""
        self._max = max_texts

    def canonical(self, text: str | None, scope: Scope) -> str:
        found = self._canonical.get(text)
        if found is None:
            if len(self._canonical) >= self._max:
                self._canonical.clear()  # a burst of distinct scopes: start over, bounded
            found = self._canonical[text] = str(scope)
        return found

    async def tell(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """on_response_prepare: streamed answers get the headers too."""
        applied = request.get(APPLIED)
        if applied is not None and applied[1] is not None:
            response.headers[SCOPE] = self.canonical(applied[0], applied[1])
            response.headers[SOURCE] = applied[2]
