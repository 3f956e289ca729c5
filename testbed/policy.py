"""The services' default policies, reduced to what a token's roles allow: reading needs
`reader`, changing needs `member` (both implied by `admin`), in each service's error shape."""

from __future__ import annotations

from aiohttp import web

from openstackoid.testbed.responses import glance_error, keystone_error, neutron_error, nova_error
from openstackoid.testbed.tokens import TokenRecord

CALLER = web.RequestKey("caller", TokenRecord)
MAX_REQUEST_BODY = 114_688
"""oslo.middleware sizelimit's max_request_body_size, in Nova's, Neutron's and Keystone's
pipelines (Glance streams image data and has none)."""
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def service_policy(request: web.Request, caller: TokenRecord) -> web.Response | None:
    """None if the caller's roles allow the request, else the service's 403."""
    service = request.path.split("/", 2)[1]
    if service == "identity":
        return None  # Keystone's own rules are checked by each of its handlers
    needed = "reader" if request.method in _READS else "member"
    if caller.project_id is not None and needed in caller.role_names:
        return None
    action = f"{request.method} {request.path}"
    if service == "image":
        return glance_error(403, f"You are not authorized to complete {action} action.")
    if service == "compute":
        return nova_error(403, f"Policy doesn't allow {action} to be performed.")
    return neutron_error(403, "PolicyNotAuthorized", f"({action}) is disallowed by policy.")


def is_admin(request: web.Request) -> bool:
    return "admin" in request[CALLER].role_names


def body_too_large(request: web.Request) -> web.Response | None:
    """oslo.middleware's RequestBodySizeLimiter: 413 for a declared length over the limit."""
    service = request.path.split("/", 2)[1]
    length = request.content_length
    if service == "image" or length is None or length <= MAX_REQUEST_BODY:
        return None
    message = "Request is too large."
    if service == "compute":
        return nova_error(413, message)
    if service == "network":
        return neutron_error(413, "RequestEntityTooLarge", message)
    return keystone_error(413, message)
