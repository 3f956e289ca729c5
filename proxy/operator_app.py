"""The operator's listener (`--admin-port`): /metrics, /healthz and the admin API, apart.

On the main listener anyone who reaches the proxy could read the metrics (cloud names,
error rates) and knock on the admin API. With admin_port set, make_app leaves both out and
this app serves them on admin_host:admin_port, which a firewall or a loopback address keeps
from the clouds' users. It reads the proxy app's own registry, store and metrics.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from aiohttp import web

from openstackoid.proxy.app import (
    BREAKERS,
    CONFIG,
    HEALTH_SOURCES,
    MEMORY,
    METRICS,
    REGISTRY,
    admin_app,
    healthz,
    metrics_view,
)

ADMIN_PREFIX = "/_openstackoid/admin"


def make_operator_app(proxy_app: web.Application) -> web.Application:
    app = web.Application()
    # The handlers are the proxy app's own: they read the same keys from this app.
    app[CONFIG] = proxy_app[CONFIG]
    app[REGISTRY] = proxy_app[REGISTRY]
    app[METRICS] = proxy_app[METRICS]
    app[BREAKERS] = proxy_app[BREAKERS]
    app[MEMORY] = proxy_app[MEMORY]
    app[HEALTH_SOURCES] = proxy_app[HEALTH_SOURCES]
    for path in ("/metrics", "/_openstackoid/metrics"):
        app.router.add_get(path, metrics_view)
    for path in ("/healthz", "/_openstackoid/healthz"):
        app.router.add_get(path, healthz)
    if proxy_app[CONFIG].admin_token:
        app.add_subapp(ADMIN_PREFIX, admin_app(proxy_app))  # clouds, named scopes, rules
    return app


OPERATOR_SHUTDOWN = 5.0
"""Seconds an operator request in flight gets to finish when the worker stops."""


def operator_listener(
    sock: socket.socket, ssl_context: ssl.SSLContext | None
) -> Callable[[web.Application], AbstractAsyncContextManager[None]]:
    """A cleanup_ctx for the proxy app: serves its operator app on `sock` while it runs."""

    @asynccontextmanager
    async def serve(proxy_app: web.Application) -> AsyncIterator[None]:
        # A scrape or an admin call is short (stores answer within their own timeouts): the
        # default 60 s would outlast the worker's stop bound (proxy/cli.py STOP_WITHIN).
        runner = web.AppRunner(
            make_operator_app(proxy_app), access_log=None, shutdown_timeout=OPERATOR_SHUTDOWN
        )
        await runner.setup()
        await web.SockSite(runner, sock, ssl_context=ssl_context).start()
        try:
            yield
        finally:
            await runner.cleanup()

    return serve
