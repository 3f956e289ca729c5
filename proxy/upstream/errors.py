"""The upstream client's error tree. proxy.errors.map_upstream_errors turns them (with
aiohttp's and the OS's) into the proxy's errors, in that one place.

UpstreamClientError
 +-- BrokenUpstream (ConnectionError)  the cloud closed the connection or sent no HTTP
 |    +-- StaleConnection              a reused idle connection the cloud had closed: retried
 +-- RequestBodyFailed                 the client's body broke off: the client's failure
"""

from __future__ import annotations


class UpstreamClientError(Exception):
    """Root of the upstream client's errors."""


class BrokenUpstream(UpstreamClientError, ConnectionError):
    """The cloud closed the connection or sent something that is not HTTP."""


class StaleConnection(BrokenUpstream):
    """A reused idle connection was closed by the cloud before it answered: safe to retry."""


class RequestBodyFailed(UpstreamClientError):
    """The request body could not be read to its end: the client went away or sent it
    malformed. The client's failure, not the cloud's; the connection is closed (the cloud
    got half a request)."""
