"""The aiohttp application: scope in, routed calls out. Decisions live in routing.py."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import resource
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from proxy.circuit import CircuitBreakers
from proxy.config import ProxyConfig
from proxy.errors import NotFound, ProxyError, ScopeInvalid, error_response
from proxy.fanout import execute
from proxy.forwarding import Call, Forwarder
from proxy.headers import REQUEST_ID, SCOPE_HEADER
from proxy.identity import make_strategy
from proxy.metrics import FLUSH_SECONDS, ProxyMetrics, exposition
from proxy.replay import read_replayable
from proxy.request_ids import new_request_id
from proxy.routing import RoutePlanner, describe, route
from proxy.scope_memory import ScopeMemory, SharedScopes
from proxy.scope_memory_redis import RedisScopeMemory
from proxy.upstream.pool import UpstreamPool
from registry import MemoryStore, Registry, SqliteStore, Store
from registry.admin_api import make_admin_app
from registry.postgres import PostgresStore
from scope_dsl import Scope, ScopeSyntaxError, parse_scope

log = logging.getLogger("openstackoid.proxy")
access_log = logging.getLogger("openstackoid.access")

CONFIG = web.AppKey("config", ProxyConfig)
REGISTRY = web.AppKey("registry", Registry)
FORWARDER = web.AppKey("forwarder", Forwarder)
METRICS = web.AppKey("metrics", ProxyMetrics)
MEMORY = web.AppKey("memory", SharedScopes)
BREAKERS = web.AppKey("breakers", CircuitBreakers)
STORE = web.AppKey("store", Store)
PLANNER = web.AppKey("planner", RoutePlanner)
SERVICE_TYPES = frozenset(
    {
        "identity",
        "image",
        "compute",
        "network",
        "block-storage",
        "placement",
        "object-store",
        "orchestration",
        "load-balancer",
        "dns",
        "key-manager",
        "shared-file-system",
        "baremetal",
    }
)


def raise_open_files_limit() -> None:
    """Thousands of clouds mean thousands of sockets: lift the soft fd limit to the hard."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _public_url(request: web.Request, config: ProxyConfig) -> str:
    if config.public_url:
        return config.public_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


async def _scope_of(request: web.Request) -> tuple[Scope | None, str | None]:
    """X-Scope, else the scope remembered for the token, else the configured default."""
    text = request.headers.get(SCOPE_HEADER)
    token = request.headers.get("X-Auth-Token")
    memory = request.app[MEMORY]
    if text:
        if token and (stored := memory.note(token, text)) is not None:
            await stored  # a changed scope is shared before the cloud may call back
    elif token:
        text = await memory.recall(token)
    if not text:
        return None, None
    try:
        return parse_scope(text), text
    except ScopeSyntaxError as exc:
        raise ScopeInvalid(str(exc)) from exc


def _api_path(request: web.Request, service_type: str, raw: str) -> str:
    """The API path after `/<service_type>` in `raw` (the path as sent, query excluded),
    percent-encoding kept: `a%2Fb` is one name to the cloud, and a decoded space or newline
    has no place in a request line."""
    prefix = "/" + service_type
    if raw == prefix or raw.startswith(prefix + "/"):
        return raw[len(prefix) :]
    tail = request.match_info.get("tail", "")  # the service name itself was encoded
    return quote("/" + tail, safe="/") if tail else ""


async def proxy_handler(request: web.Request) -> web.StreamResponse:
    """A path under an unknown service: answered in OpenStack's error shape."""
    return await serve_service(request, request.match_info["service"])


def _handler_for(service_type: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    # A partial, not a closure awaiting serve_service: one coroutine less per request.
    return functools.partial(serve_service, service_type=service_type)


async def serve_service(request: web.Request, service_type: str) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = new_request_id()
    metrics = request.app[METRICS]
    plan: Any = None
    try:
        if service_type not in SERVICE_TYPES:
            raise NotFound(f"openstackoid serves no service {service_type!r} at {request.path}")
        scope, scope_text = await _scope_of(request)
        raw, _, query = request.raw_path.partition("?")
        path = _api_path(request, service_type, raw)
        decision = request.app[PLANNER].decide(
            request.method, service_type, path, scope, scope_text
        )
        single = decision.single
        plan = decision.node
        body = None
        if single is None and request.body_exists:
            body = await read_replayable(request, request.app[CONFIG].max_replay_bytes)
        call = Call(
            request,
            decision,
            path,
            query,
            _public_url(request, request.app[CONFIG]),
            scope_text,
            scope,
            body,
        )
        forwarder = request.app[FORWARDER]
        if single is not None:
            response = await forwarder.stream_one(call, single)
        else:
            result = await execute(forwarder, call, decision.node)
            response = web.Response(status=result.status, headers=result.headers, body=result.body)
    except ProxyError as exc:
        if exc.status >= 500:
            log.warning("%s %s %s: %s", request_id, request.method, request.path, exc.message)
        response = error_response(exc, request_id)
    if not response.prepared:
        response.headers.setdefault(REQUEST_ID, request_id)
        response.headers["X-Openstackoid-Request-Id"] = request_id
    metrics.count_request(service_type, response.status)
    if request.app[CONFIG].access_log:
        # One JSON line per request. The path only: query strings and headers may carry
        # secrets, and tokens never appear here.
        access_log.info(
            json.dumps(
                {
                    "id": request_id,
                    "method": request.method,
                    "path": request.path,
                    "service": service_type,
                    "clouds": describe(plan) if plan is not None else None,
                    "status": response.status,
                    "ms": round((time.perf_counter() - started) * 1000, 3),
                    "cloud_request_id": response.headers.get(REQUEST_ID)
                    if response.headers.get(REQUEST_ID) != request_id
                    else None,
                }
            )
        )
    return response


async def healthz(request: web.Request) -> web.Response:
    breakers = request.app[BREAKERS]
    body = {
        "status": "ok",
        "clouds": len(request.app[REGISTRY]),
        "open_circuits": breakers.open_circuits(),
        "remembered_scopes": len(request.app[MEMORY]),
        "scope_memory": request.app[MEMORY].health(),
    }
    return web.json_response(body)


async def explain_scope(request: web.Request) -> web.Response:
    """GET /_openstackoid/scope with X-Scope: which clouds serve each scoped service."""
    request_id = new_request_id()
    try:
        scope, _ = await _scope_of(request)
        default = request.app[CONFIG].default_scope
        default_scope = parse_scope(default) if default else None
        services = {e.service_type for e in (scope or default_scope or Scope(())).entries}
        services.add("identity")
        body = {}
        for service_type in sorted(services - {"*"}):
            decision = route("GET", service_type, "", scope, request.app[REGISTRY], default_scope)
            body[service_type] = {"plan": describe(decision.node)}
        return web.json_response({"scope": str(scope) if scope else None, "services": body})
    except ProxyError as exc:
        return error_response(exc, request_id)


async def metrics_view(request: web.Request) -> web.Response:
    data = exposition(request.app[METRICS])
    return web.Response(body=data, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def metrics_flusher(app: web.Application) -> AsyncIterator[None]:
    """Counts reach the prometheus counters every FLUSH_SECONDS (and at each scrape), so
    the other workers' scrapes see them too."""
    metrics = app[METRICS]
    loop = asyncio.get_running_loop()
    timer: asyncio.TimerHandle | None = None

    def tick() -> None:
        nonlocal timer
        metrics.flush()
        timer = loop.call_later(FLUSH_SECONDS, tick)

    timer = loop.call_later(FLUSH_SECONDS, tick)
    try:
        yield
    finally:
        timer.cancel()
        metrics.flush()


async def shared_registry(app: web.Application) -> AsyncIterator[None]:
    """Load a fleet's PostgreSQL registry and apply every change NOTIFY'd by any proxy."""
    from registry.sync import RegistrySync

    store = app[STORE]
    assert isinstance(store, PostgresStore)
    await store.open()
    try:
        await RegistrySync(app[REGISTRY], store).start()
        yield
    finally:
        await store.close()


async def shared_scope_memory(app: web.Application) -> AsyncIterator[None]:
    """Follow the fleet's scope memory in Redis for as long as the app serves."""
    memory = app[MEMORY]
    assert isinstance(memory, RedisScopeMemory)
    await memory.start()
    try:
        yield
    finally:
        await memory.close()


def _store(config: ProxyConfig) -> Store:
    """Where admin API changes persist."""
    if config.registry_dsn:
        return PostgresStore(config.registry_dsn)
    if config.registry_db:
        return SqliteStore(config.registry_db)
    return MemoryStore()


def make_app(config: ProxyConfig, registry: Registry) -> web.Application:
    app = web.Application(client_max_size=1024**4)
    app[CONFIG] = config
    app[REGISTRY] = registry
    app[PLANNER] = RoutePlanner(
        registry, parse_scope(config.default_scope) if config.default_scope else None
    )
    app[METRICS] = ProxyMetrics()
    if config.scope_memory and config.scope_memory != "local":
        app[MEMORY] = RedisScopeMemory(config.scope_memory)
        app.cleanup_ctx.append(shared_scope_memory)
    else:
        app[MEMORY] = ScopeMemory()
    app[BREAKERS] = CircuitBreakers(config.circuit_failures, config.circuit_cooldown)

    async def upstream_session(app: web.Application) -> AsyncIterator[None]:
        raise_open_files_limit()
        connector = aiohttp.TCPConnector(
            limit=0,  # many hosts: a total limit below client concurrency starves some
            limit_per_host=config.limit_per_host,
            keepalive_timeout=config.keepalive_timeout,
            enable_cleanup_closed=True,
        )
        timeout = aiohttp.ClientTimeout(
            total=config.total_timeout, sock_connect=config.connect_timeout
        )
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False
        ) as session:
            pool = UpstreamPool(
                config.limit_per_host,
                config.keepalive_timeout,
                config.connect_timeout,
                config.total_timeout,
                body_timeout=config.client_stall_timeout,
            )
            app[FORWARDER] = Forwarder(
                session,
                pool,
                config,
                make_strategy(config.identity_strategy),
                app[BREAKERS],
                app[METRICS],
                app[MEMORY],
            )
            try:
                yield
            finally:
                pool.close()

    app.cleanup_ctx.append(upstream_session)
    app.cleanup_ctx.append(metrics_flusher)
    app[STORE] = _store(config)
    if config.registry_dsn:
        app.cleanup_ctx.append(shared_registry)
    if config.admin_token:
        admin = make_admin_app(registry, app[STORE], config.admin_token)
        app.add_subapp("/_openstackoid/admin", admin)
    for path in ("/healthz", "/_openstackoid/healthz"):
        app.router.add_get(path, healthz)
    app.router.add_get("/_openstackoid/scope", explain_scope)
    for path in ("/metrics", "/_openstackoid/metrics"):
        app.router.add_get(path, metrics_view)
    # A route per service type: aiohttp finds `/image/...` by its prefix in a dict, where a
    # single `/{service}/...` pattern is a regex match on every request.
    for service_type in sorted(SERVICE_TYPES):
        handler = _handler_for(service_type)
        app.router.add_route("*", f"/{service_type}", handler)
        app.router.add_route("*", f"/{service_type}/{{tail:.*}}", handler)
    app.router.add_route("*", "/{service}", proxy_handler)
    app.router.add_route("*", "/{service}/{tail:.*}", proxy_handler)
    return app


@asynccontextmanager
async def running_proxy(
    config: ProxyConfig, registry: Registry, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve the proxy on a real socket; yields its base URL."""
    runner = web.AppRunner(make_app(config, registry), access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://{host}:{bound}"
    finally:
        await runner.cleanup()
