"""Absolute URLs of a cloud in bodies and headers point back at the proxy."""

from __future__ import annotations

from multidict import CIMultiDict

LINK_HEADERS = ("Location", "Content-Location")


def rewrite_body(body: bytes, upstream_root: str, proxy_prefix: str) -> bytes:
    # A byte replace covers links, href, next, self and Location-like fields at once, and
    # costs far less than walking the JSON.
    return body.replace(upstream_root.encode(), proxy_prefix.encode())


def rewrite_headers(headers: CIMultiDict[str], upstream_root: str, proxy_prefix: str) -> None:
    for name in LINK_HEADERS:
        value = headers.get(name)
        if value is not None and value.startswith(upstream_root):
            headers[name] = proxy_prefix + value[len(upstream_root) :]
