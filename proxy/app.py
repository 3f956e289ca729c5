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
from multidict import CIMultiDictProxy
from prometheus_client import CONTENT_TYPE_LATEST

from proxy.applied_scope import APPLIED, AppliedScopes
from proxy.circuit import CircuitBreakers
from proxy.config import ProxyConfig
from proxy.errors import NotFound, ProxyError, ScopeInvalid, error_response
from proxy.executor import Executor, Limits
from proxy.headers import REQUEST_ID, SCOPE_HEADER
from proxy.identity import Logins, StrategyContext, audit, make_strategy
from proxy.identity.rules_source import rule_store_for, shared_rules
from proxy.metrics import FLUSH_SECONDS, ProxyMetrics, exposition
from proxy.named_scope_source import named_scope_store, serve_named_scopes
from proxy.relay import Relay
from proxy.request import ProxyRequest
from proxy.request_ids import new_request_id
from proxy.rewrite_endpoints import catalog_resource, is_catalog_resource
from proxy.rewrites import AnswerHooks
from proxy.routing import RoutePlanner, describe, route
from proxy.scope_memory import ScopeMemory, ScopeStore
from proxy.scope_memory_redis import RedisScopeMemory
from proxy.services import SERVICES
from proxy.streamed_failover import StreamedBody, held_or_streamed, members, relay_first
from proxy.upstream.client import CloudClient
from proxy.upstream.pool import Body, UpstreamPool
from proxy.url_scope import PREFIX as SCOPED_PREFIX
from proxy.url_scope import ScopedPath, UrlScopes, split_scoped_path
from proxy.versions import VersionDocuments, is_discovery
from registry import MemoryStore, Registry, RuleBook, SqliteStore, Store
from registry.admin_api import make_admin_app
from registry.admin_rules import RulesAdmin
from registry.admin_scopes import ScopesAdmin, mount_scopes
from registry.discovery import EndpointCatalog
from registry.health import HealthSource, health_exposition, health_report
from registry.named_scope_store import NamedScopeStore
from registry.named_scopes import NamedScopes
from registry.postgres import PostgresStore
from registry.rule_store import RuleStore
from scope_dsl import Scope, ScopeSyntaxError, parse_scope

log = logging.getLogger("openstackoid.proxy")
access_log = logging.getLogger("openstackoid.access")

CONFIG = web.AppKey("config", ProxyConfig)
REGISTRY = web.AppKey("registry", Registry)
EXECUTOR = web.AppKey("executor", Executor)
RELAY = web.AppKey("relay", Relay)
METRICS = web.AppKey("metrics", ProxyMetrics)
MEMORY = web.AppKey("memory", ScopeStore)
BREAKERS = web.AppKey("breakers", CircuitBreakers)
STORE = web.AppKey("store", Store)
PLANNER = web.AppKey("planner", RoutePlanner)
HOOKS = web.AppKey("hooks", AnswerHooks)
VERSIONS = web.AppKey("versions", VersionDocuments)
RULES = web.AppKey("rules", RuleBook)
RULE_STORE = web.AppKey("rule_store", RuleStore)
URL_SCOPES = web.AppKey("url_scopes", UrlScopes)
NAMED_SCOPE_STORE = web.AppKey("named_scope_store", NamedScopeStore)
HEALTH_SOURCES = web.AppKey("health_sources", dict[str, HealthSource])
"""Components following a central store report here by name ("registry", "scope_memory");
/healthz and /metrics read them."""


def raise_open_files_limit() -> None:
    """Thousands of clouds mean thousands of sockets: lift the soft fd limit to the hard."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _public_url(request: web.Request, config: ProxyConfig) -> str:
    if config.public_url:
        return config.public_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


def _parsed(text: str) -> Scope:
    try:
        return parse_scope(text)
    except ScopeSyntaxError as exc:
        raise ScopeInvalid(str(exc)) from exc


def _noted_scope(
    text: str, token: str | None, memory: ScopeStore
) -> tuple[Scope, Awaitable[None] | None]:
    """The request's X-Scope, noted for its token once it parsed (a typo is not kept), and
    the write to await first when a shared memory must hear of a change: the cloud may call
    back through another process (Nova asking Glance) before the answer."""
    scope = _parsed(text)
    return scope, memory.note(token, text) if token else None


async def _scope_of(
    headers: CIMultiDictProxy[str], token: str | None, memory: ScopeStore
) -> tuple[Scope | None, str | None]:
    """X-Scope, else the scope remembered for the token (None: the configured default)."""
    text = headers.get(SCOPE_HEADER)
    if text:
        scope, stored = _noted_scope(text, token, memory)
        if stored is not None:
            await stored
        return scope, text
    return await _recalled_scope(token, memory)


async def _recalled_scope(token: str | None, memory: ScopeStore) -> tuple[Scope | None, str | None]:
    """The scope remembered for the token: a shared memory may do IO here, so the handler
    awaits it only for a request without X-Scope."""
    text = await memory.recall(token) if token else None
    return (_parsed(text), text) if text else (None, None)


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


async def serve_url_scoped(request: web.Request) -> web.StreamResponse:
    """`/scope/<scope>/<service_type>/...`: the scope in the URL (proxy/url_scope.py)."""
    try:
        scoped = split_scoped_path(request.raw_path.partition("?")[0])
    except ProxyError as exc:
        return error_response(exc, new_request_id())
    return await serve_service(request, scoped.service_type, scoped)


async def serve_service(
    request: web.Request, service_type: str, scoped: ScopedPath | None = None
) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = new_request_id()
    app = request.app
    metrics = app[METRICS]
    plan: Any = None
    record = audit.open_record() if app[CONFIG].access_log else None
    try:
        if service_type not in SERVICES:
            raise NotFound(f"openstackoid serves no service {service_type!r} at {request.path}")
        headers = request.headers
        token = headers.get("X-Auth-Token")
        scope_text = headers.get(SCOPE_HEADER)
        config = app[CONFIG]
        public_url = _public_url(request, config)
        raw, _, query = request.raw_path.partition("?")
        # Precedence: X-Scope, then the URL's scope, then the token's, then the default.
        if scoped is not None:
            url_scope = app[URL_SCOPES].resolve(scoped.segment)
            public_url += url_scope.prefix  # every URL handed back keeps the scope
            path = scoped.api_path
        else:
            url_scope = None
            path = _api_path(request, service_type, raw)
        if scope_text:  # nearly every request: no coroutine for it
            scope: Scope | None
            scope, stored = _noted_scope(scope_text, token, app[MEMORY])
            if stored is not None:  # a scope new to this process, in a shared memory
                await stored
            source = "header"
            if url_scope is not None and url_scope.scope != scope:
                source = "header (the URL's scope differs and was not applied)"
        elif url_scope is not None:
            scope, scope_text = url_scope.scope, url_scope.text
            if token and (stored := app[MEMORY].note(token, scope_text)) is not None:
                await stored  # Nova's calls for the user keep it, through any process
            source = "url"
        else:
            scope, scope_text = await _recalled_scope(token, app[MEMORY])
            source = "token" if scope is not None else "default"
        request[APPLIED] = (scope_text, scope or app[PLANNER].default, source)
        decision = app[PLANNER].decide(request.method, service_type, path, scope, scope_text)
        single = decision.single
        plan = decision.node
        if single is not None:
            # The body as it arrives: 64 KiB pieces (iter_chunked) cost a copy each and a
            # write each, 1.5 s of CPU per GiB uploaded against 0.64.
            body: Body = request.content.iter_any() if request.body_exists else None
        elif request.body_exists:
            body = await held_or_streamed(request, config.max_replay_bytes, plan)
        else:
            body = None
        call = ProxyRequest._make(
            (
                request.method,
                path,
                query,
                headers,
                decision,
                scope,
                scope_text,
                token,
                public_url,
                body,
            )
        )
        executor = app[EXECUTOR]
        if single is not None and is_catalog_resource(call):
            found = await catalog_resource(executor, call, single)
            response: web.StreamResponse = web.Response(
                status=found.status, headers=found.headers, body=found.body
            )
        elif single is not None:
            upstream = await executor.relay_one(call, single)
            response = await app[RELAY].answer(request, call, single.name, upstream)
        elif isinstance(body, StreamedBody):
            clouds = members(plan)
            assert clouds is not None  # a body is streamed only to a `|` of clouds
            response = await relay_first(app[RELAY], executor.send, request, call, clouds)
        else:
            result = await executor.execute(call, plan)
            answer = app[HOOKS].token_answer(call, result.headers, result.body)
            response = web.Response(status=result.status, headers=result.headers, body=answer)
    except ProxyError as exc:
        if exc.status >= 500:
            log.warning("%s %s %s: %s", request_id, request.method, request.path, exc.message)
        response = error_response(exc, request_id)
    tail = scoped.api_path if scoped is not None else request.path[len(service_type) + 1 :]
    if is_discovery(request.method, tail) and service_type in SERVICES:
        # keystoneauth would hide an error here behind "no supported versions"
        prefix = _public_url(request, app[CONFIG])
        if scoped is not None:
            prefix += SCOPED_PREFIX + scoped.segment
        prefix += f"/{service_type}"
        response = await app[VERSIONS].settle(response, service_type, tail, prefix)
    if not response.prepared:
        response.headers.setdefault(REQUEST_ID, request_id)
        response.headers["X-Openstackoid-Request-Id"] = request_id
    metrics.count_request(service_type, response.status)
    if record is not None:
        # One JSON line per request. The path only: query strings and headers may carry
        # secrets, and tokens never appear here: the caller by ids, the identity used at
        # each cloud by credential name and id.
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
                    **record.fields(),
                }
            )
        )
    return response


async def healthz(request: web.Request) -> web.Response:
    breakers = request.app[BREAKERS]
    report = health_report(request.app[HEALTH_SOURCES])
    body: dict[str, Any] = {
        "status": report.status,  # "degraded" still answers 200: the proxy serves
        "clouds": len(request.app[REGISTRY]),
        "open_circuits": breakers.open_circuits(),
        "remembered_scopes": len(request.app[MEMORY]),
        "components": report.components,
    }
    if report.reasons:
        body["reason"] = "; ".join(report.reasons)
    return web.json_response(body)


async def explain_scope(request: web.Request) -> web.Response:
    """GET /_openstackoid/scope with X-Scope: which clouds serve each scoped service."""
    request_id = new_request_id()
    try:
        scope, _ = await _scope_of(
            request.headers, request.headers.get("X-Auth-Token"), request.app[MEMORY]
        )
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
    data = exposition(request.app[METRICS]) + health_exposition(request.app[HEALTH_SOURCES])
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
    """Follow a fleet's PostgreSQL registry through outages (registry/sync.py)."""
    from registry.sync import RegistrySync, snapshot_for

    store = app[STORE]
    assert isinstance(store, PostgresStore)
    sync = RegistrySync(app[REGISTRY], store, snapshot_for(store, app[CONFIG].registry_snapshot))
    app[HEALTH_SOURCES]["registry"] = sync.health
    try:
        await sync.start()
        yield
    finally:
        await sync.close()
        await store.close()


def rules_admin(app: web.Application) -> RulesAdmin:
    """What the admin API's rule routes act on: the proxy's own rules and their store."""
    return RulesAdmin(app[RULES], app[RULE_STORE], app[REGISTRY])


async def rules_in_force(app: web.Application) -> AsyncIterator[None]:
    """The mapping rules' store open while serving (a fleet's rules followed by NOTIFY)."""
    async with shared_rules(app[RULES], app[RULE_STORE]):
        yield


async def shared_scope_memory(app: web.Application) -> AsyncIterator[None]:
    """Follow the fleet's scope memory in Redis for as long as the app serves."""
    memory = app[MEMORY]
    assert isinstance(memory, RedisScopeMemory)
    await memory.start()
    try:
        yield
    finally:
        await memory.close()


async def named_scopes(app: web.Application) -> AsyncIterator[None]:
    async for _ in serve_named_scopes(
        app[URL_SCOPES].named, app[NAMED_SCOPE_STORE], app[HEALTH_SOURCES]
    ):
        yield


def admin_app(proxy_app: web.Application) -> web.Application:
    """The admin API (clouds, named scopes, mapping rules) on the proxy app's stores."""
    config = proxy_app[CONFIG]
    assert config.admin_token
    rules = rules_admin(proxy_app)
    admin = make_admin_app(proxy_app[REGISTRY], proxy_app[STORE], config.admin_token, rules)
    named = ScopesAdmin(proxy_app[URL_SCOPES].named, proxy_app[NAMED_SCOPE_STORE])
    mount_scopes(admin, named)
    return admin


def _store(config: ProxyConfig) -> Store:
    """Where admin API changes persist."""
    if config.registry_dsn:
        return PostgresStore(config.registry_dsn)
    if config.registry_db:
        return SqliteStore(config.registry_db)
    return MemoryStore()


def make_app(
    config: ProxyConfig, registry: Registry, rules: RuleBook | None = None
) -> web.Application:
    """`rules`: the mapping rules read at start (proxy.identity.rules_source.load_rules);
    a PostgreSQL registry brings its own."""
    app = web.Application(client_max_size=1024**4)
    app[CONFIG] = config
    app[REGISTRY] = registry
    app[RULES] = rules if rules is not None else RuleBook()
    app[PLANNER] = RoutePlanner(
        registry, parse_scope(config.default_scope) if config.default_scope else None
    )
    app[METRICS] = ProxyMetrics()
    app[HEALTH_SOURCES] = {}
    if config.scope_memory and config.scope_memory != "local":
        shared = RedisScopeMemory(config.scope_memory, on_fallback=app[METRICS].scope_fallbacks.inc)
        app[MEMORY] = shared
        app[HEALTH_SOURCES]["scope_memory"] = shared.component_health
        app.cleanup_ctx.append(shared_scope_memory)
    else:
        app[MEMORY] = ScopeMemory()
    app[HOOKS] = AnswerHooks(app[MEMORY])
    app[BREAKERS] = CircuitBreakers(config.circuit_failures, config.circuit_cooldown)
    app[URL_SCOPES] = UrlScopes(registry, NamedScopes())
    app.on_response_prepare.append(AppliedScopes().tell)

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
            logins = Logins(session)
            context = StrategyContext(
                logins,
                app[RULES],
                registry,
                config.token_cache_seconds,
                app[METRICS].count_denial,
            )
            client = CloudClient(
                pool,
                make_strategy(config.identity_strategy, context),
                app[BREAKERS],
                app[METRICS],
                EndpointCatalog(catalog_of=logins.catalog),
                session,
            )
            limits = Limits(config.fanout_concurrency, config.total_timeout)
            app[EXECUTOR] = Executor(
                client.send, limits, app[HOOKS].links, app[METRICS].fanout_width.observe
            )
            app[VERSIONS] = VersionDocuments(registry, client.send, config.total_timeout)
            app[RELAY] = Relay(
                app[HOOKS].whole,
                app[METRICS],
                config.max_rewrite_bytes,
                config.total_timeout,
                config.client_stall_timeout,
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
    app[RULE_STORE] = rule_store_for(config)
    app.cleanup_ctx.append(rules_in_force)
    app[NAMED_SCOPE_STORE] = named_scope_store(config)
    app.cleanup_ctx.append(named_scopes)
    if config.admin_port is None:  # else they are proxy/operator_app.py's, on their own port
        if config.admin_token:
            app.add_subapp("/_openstackoid/admin", admin_app(app))
        for path in ("/metrics", "/_openstackoid/metrics"):
            app.router.add_get(path, metrics_view)
    for path in ("/healthz", "/_openstackoid/healthz"):
        app.router.add_get(path, healthz)
    app.router.add_get("/_openstackoid/scope", explain_scope)
    # A route per service type: aiohttp finds `/image/...` by its prefix in a dict, where a
    # single `/{service}/...` pattern is a regex match on every request.
    for service_type in SERVICES:
        handler = _handler_for(service_type)
        app.router.add_route("*", f"/{service_type}", handler)
        app.router.add_route("*", f"/{service_type}/{{tail:.*}}", handler)
    app.router.add_route("*", SCOPED_PREFIX + "{tail:.*}", serve_url_scoped)
    app.router.add_route("*", "/{service}", proxy_handler)
    app.router.add_route("*", "/{service}/{tail:.*}", proxy_handler)
    return app


@asynccontextmanager
async def running_proxy(
    config: ProxyConfig,
    registry: Registry,
    host: str = "127.0.0.1",
    port: int = 0,
    rules: RuleBook | None = None,
) -> AsyncIterator[str]:
    """Serve the proxy on a real socket; yields its base URL."""
    runner = web.AppRunner(make_app(config, registry, rules), access_log=None)
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
