"""The proxy's error tree, every error answered in OpenStack's JSON error shape.

ProxyError                        status (title: its standard phrase); message says why
 +-- BadRequest (400)
 |    +-- ScopeMissing           no X-Scope, no remembered scope, no default
 |    +-- ScopeInvalid           X-Scope does not parse (message carries the caret)
 |    +-- CloudUnknown           the scope names a cloud the registry lacks
 |    +-- FanOutWriteRejected    a write addressed to several clouds with `&`
 |    +-- FanOutTooWide          a plan of more distinct clouds than max_fanout
 |    +-- RequestBodyIncomplete  the client's body ended early or broke (the client's
 |                               failure: the cloud's circuit and error count stay as they are)
 +-- Unauthorized (401)          the token's issuer did not accept it
 +-- Forbidden (403)             e.g. no credentials to reach a cloud for the user
 +-- NotFound (404)              no such proxy path / service
 +-- MethodNotAllowed (405)      a method no OpenStack API uses (TRACE, PROPFIND...)
 +-- PayloadTooLarge (413)       a body to replay on failover exceeds max_replay_bytes
 +-- UpstreamError
      +-- UpstreamUnavailable (502)  connection refused / reset / no endpoint
      +-- UpstreamTimeout (504)
      +-- CircuitOpen (503)          the cloud failed repeatedly; cooling down
 +-- CloudBusy (503)             every slot to the cloud stayed taken (no failure of the cloud)
 +-- LoopDetected (508)          the request came back to this proxy (its hop header)

map_upstream_errors is the one place other errors become these: the upstream client's
(proxy/upstream/errors.py), aiohttp's, the OS's. Answers take OpenStack's error shape from
openstack_errors.openstack_error, which the registry's admin API uses too.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from openstackoid.openstack_errors import openstack_error
from openstackoid.proxy.upstream.errors import RequestBodyFailed


class ProxyError(Exception):
    status = 500
    title: str | None = None
    """None: the status's standard phrase, as openstack_error words it."""
    headers: tuple[tuple[str, str], ...] = ()
    """Headers the error answer carries besides the request id (Allow for a 405)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ProxyError):
    status = 400


class ScopeMissing(BadRequest):
    pass


class ScopeInvalid(BadRequest):
    pass


class CloudUnknown(BadRequest):
    pass


class FanOutWriteRejected(BadRequest):
    pass


class FanOutTooWide(BadRequest):
    pass


class RequestBodyIncomplete(BadRequest):
    pass


class Unauthorized(ProxyError):
    status = 401


class Forbidden(ProxyError):
    status = 403


class NotFound(ProxyError):
    status = 404


class PayloadTooLarge(ProxyError):
    status = 413
    # Pinned: Python 3.13 renamed the standard phrase "Content Too Large"; OpenStack's
    # services (webob) keep this one.
    title = "Request Entity Too Large"


class UpstreamError(ProxyError):
    status = 502
    cloud: str | None = None
    """The cloud that failed, when map_upstream_errors knew it: its circuit breaker's."""


class UpstreamUnavailable(UpstreamError):
    pass


class UpstreamTimeout(UpstreamError):
    status = 504


class CircuitOpen(UpstreamError):
    status = 503


class MethodNotAllowed(ProxyError):
    status = 405

    def __init__(self, message: str, allowed: str) -> None:
        super().__init__(message)
        self.headers = (("Allow", allowed),)


class CloudBusy(ProxyError):
    status = 503


class LoopDetected(ProxyError):
    status = 508


def error_response(error: ProxyError, request_id: str) -> web.Response:
    response = openstack_error(error.status, error.title, error.message, request_id)
    response.headers.extend(error.headers)  # e.g. Allow on a 405
    return response


def _as_proxy_error(cloud: str, exc: BaseException) -> ProxyError | None:
    if isinstance(exc, RequestBodyFailed):
        return RequestBodyIncomplete(f"the request body broke off: {exc}")
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"cloud {cloud!r} did not answer in time")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamUnavailable(f"cloud {cloud!r} is unreachable: {exc.os_error}")
    if isinstance(exc, aiohttp.ClientError):
        return UpstreamUnavailable(f"cloud {cloud!r} failed: {exc.__class__.__name__}")
    if isinstance(exc, OSError):  # the proxy's own upstream pool: refused, reset, TLS, not HTTP
        return UpstreamUnavailable(f"cloud {cloud!r} is unreachable: {exc}")
    return None


class map_upstream_errors:  # noqa: N801 - used like contextlib's context managers
    """The one place client exceptions become proxy errors. A class, not @contextmanager:
    it wraps every upstream call, and a generator-based manager costs ~1.5 µs each time."""

    __slots__ = ("cloud",)

    def __init__(self, cloud: str) -> None:
        self.cloud = cloud

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: object
    ) -> None:
        if exc is not None:
            error = _as_proxy_error(self.cloud, exc)
            if error is not None:
                if isinstance(error, UpstreamError):
                    error.cloud = self.cloud
                raise error from exc
