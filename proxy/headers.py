"""Which headers cross the proxy."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

# RFC 9110 hop-by-hop headers, plus those aiohttp recomputes for each side.
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Content-Length",
        "Expect",  # aiohttp answered 100-continue to the client; the cloud gets the body
    )
)
SCOPE_HEADER = "X-Scope"
REQUEST_ID = "X-Openstack-Request-Id"


def upstream_request_headers(
    incoming: CIMultiDictProxy[str], token: str | None, keep_length: bool
) -> CIMultiDict[str]:
    headers = CIMultiDict((k, v) for k, v in incoming.items() if k.lower() not in HOP_BY_HOP)
    if keep_length and "Content-Length" in incoming:
        # Streamed uploads keep their length, so the cloud sees no chunked encoding.
        headers["Content-Length"] = incoming["Content-Length"]
    headers.popall("X-Auth-Token", None)
    if token is not None:
        headers["X-Auth-Token"] = token
    return headers


def downstream_response_headers(upstream: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in upstream.items() if k.lower() not in HOP_BY_HOP)
