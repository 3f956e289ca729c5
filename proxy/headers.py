"""Which headers cross the proxy, and what it adds (docs/hostile.md states the policy)."""

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
        "Proxy-Connection",
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
HOP_HEADER = "X-Openstackoid-Hop"
"""Each proxy a request crossed, by id: a request back at the same proxy is a loop."""
_UPSTREAM_DROPPED = (
    *HOP_BY_HOP,
    SCOPE_HEADER.lower(),  # the proxy's own: real services never see or forward it
    # A cloud builds links on these (oslo's HTTPProxyToWSGI): the client's say would point
    # them at a host of its choosing. The proxy rewrites links to itself anyway.
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
)
_DOWNSTREAM_DROPPED = tuple(HOP_BY_HOP)
SWAPPED_AWAY = ("X-Service-Token", "X-Subject-Token")
REQUEST_ID = "X-Openstack-Request-Id"


def _without(headers: CIMultiDictProxy[str], names: tuple[str, ...]) -> CIMultiDict[str]:
    # A C-level copy then deletes: ~5x cheaper than filtering item by item in Python.
    copy = CIMultiDict(headers)
    for name in names:
        if name in copy:
            del copy[name]
    connection = headers.get("Connection")
    if connection:  # RFC 9110 7.6.1: the headers it names are for this hop only
        for name in connection.split(","):
            copy.popall(name.strip(), None)
    return copy


def _for_element(client: str) -> str:
    return f'for="[{client}]"' if ":" in client else f"for={client}"


def _forwarded_for_only(value: str) -> str:
    """A client's Forwarded value with only its `for=` parameters: by, host and proto
    would tell the cloud where it is reached, and that is the proxy's to say."""
    elements = []
    for element in value.split(","):
        pairs = [p.strip() for p in element.split(";")]
        elements += [p for p in pairs if p.lower().startswith("for=")]
    return ", ".join(elements)


def _forwarding(headers: CIMultiDict[str], incoming: CIMultiDictProxy[str], client: str) -> None:
    """The client's address appended to X-Forwarded-For and Forwarded (its own entries kept
    first: history the cloud may log, never trust)."""
    chain = incoming.getall("X-Forwarded-For", ())
    headers["X-Forwarded-For"] = ", ".join([*chain, client])
    given = _forwarded_for_only(", ".join(incoming.getall("Forwarded", ())))
    headers["Forwarded"] = f"{given}, {_for_element(client)}" if given else _for_element(client)


def upstream_request_headers(
    incoming: CIMultiDictProxy[str],
    token: str | None,
    keep_length: bool,
    client: str = "",
    hop: str = "",
) -> CIMultiDict[str]:
    headers = _without(incoming, _UPSTREAM_DROPPED)
    if keep_length and "Content-Length" in incoming:
        # Streamed uploads keep their length, so the cloud sees no chunked encoding.
        headers["Content-Length"] = incoming["Content-Length"]
    if token is None:
        headers.popall("X-Auth-Token", None)
    else:
        headers["X-Auth-Token"] = token
    if token != incoming.get("X-Auth-Token"):
        # The strategy swapped identities: the caller's other tokens (a service's, a subject)
        # come from the same issuer and must not reach this cloud either.
        for name in SWAPPED_AWAY:
            headers.popall(name, None)
    if client:
        _forwarding(headers, incoming, client)
    if hop:
        headers.add(HOP_HEADER, hop)
    return headers


def downstream_response_headers(upstream: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    return _without(upstream, _DOWNSTREAM_DROPPED)
