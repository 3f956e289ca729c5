"""The aiohttp application: scope in, routed calls out. Decisions live in routing.py."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import resource
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from prometheus_client import CONTENT_TYPE_LATEST

from openstackoid.proxy.applied_scope import APPLIED, AppliedScopes
from openstackoid.proxy.circuit import CircuitBreakers
from openstackoid.proxy.config import ProxyConfig
from openstackoid.proxy.errors import (
    LoopDetected,
    MethodNotAllowed,
    NotFound,
    ProxyError,
    ScopeInvalid,
    Unauthorized,
    error_response,
)
from openstackoid.proxy.executor import Executor, Limits
from openstackoid.proxy.headers import HOP_HEADER, REQUEST_ID, SCOPE_HEADER
from openstackoid.proxy.identity import (
    IdentityStrategy,
    Logins,
    StrategyContext,
    audit,
    make_strategy,
)
from openstackoid.proxy.identity.rules_source import rule_store_for, shared_rules
from openstackoid.proxy.listing import PARTIAL_FAILURE
from openstackoid.proxy.log_safety import hide_request_lines
from openstackoid.proxy.metrics import FLUSH_SECONDS, ProxyMetrics, exposition
from openstackoid.proxy.named_scope_source import named_scope_store, serve_named_scopes
from openstackoid.proxy.relay import Relay
from openstackoid.proxy.request import ProxyRequest
from openstackoid.proxy.request_ids import new_request_id
from openstackoid.proxy.rewrite_endpoints import catalog_resource, is_catalog_resource
from openstackoid.proxy.rewrites import AnswerHooks
from openstackoid.proxy.routing import AnyNode, RoutePlanner, describe, fans_out, route
from openstackoid.proxy.scope_memory import ScopeMemory, ScopeStore
from openstackoid.proxy.scope_memory_redis import RedisScopeMemory
from openstackoid.proxy.services import IDENTITY, SERVICES
from openstackoid.proxy.streamed_failover import (
    StreamedBody,
    held_or_streamed,
    members,
    relay_first,
)
from openstackoid.proxy.upstream.client import CloudClient
from openstackoid.proxy.upstream.connection import UpstreamResponse
from openstackoid.proxy.upstream.destinations import Destinations
from openstackoid.proxy.upstream.pool import Body, UpstreamPool
from openstackoid.proxy.url_scope import PREFIX as SCOPED_PREFIX
from openstackoid.proxy.url_scope import ScopedPath, UrlScopes, split_scoped_path
from openstackoid.proxy.versions import VersionDocuments, is_discovery
from openstackoid.registry import MemoryStore, Registry, RuleBook, SqliteStore, Store
from openstackoid.registry.admin_api import make_admin_app
from openstackoid.registry.admin_rules import RulesAdmin
from openstackoid.registry.admin_scopes import ScopesAdmin, mount_scopes
from openstackoid.registry.discovery import EndpointCatalog
from openstackoid.registry.health import HealthSource, health_exposition, health_report
from openstackoid.registry.named_scope_store import NamedScopeStore
from openstackoid.registry.named_scopes import NamedScopes
from openstackoid.registry.postgres import PostgresStore
from openstackoid.registry.rule_store import RuleStore
from openstackoid.scope_dsl import Scope, ScopeSyntaxError, parse_scope

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
STRATEGY = web.AppKey("strategy", IdentityStrategy)
DESTINATIONS = web.AppKey("destinations", Destinations)
"""Where the proxy may not send requests: its own listening addresses, filled as bound."""
HOP_ID = web.AppKey("hop_id", str)
UNKNOWN_SERVICE = "unknown"
"""The metrics label of every path under no service: 20,000 random paths made 20,005
series (issue 15)."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "COPY"})
"""What OpenStack APIs use (COPY: Swift); TRACE and the rest are refused, not forwarded."""
ALLOWED = ", ".join(sorted(METHODS))
MAX_HOPS = 4
"""Proxies a request may have crossed (their hop header): a chain longer is a loop."""


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


async def _scope_of(
    headers: CIMultiDictProxy[str], token: str | None, memory: ScopeStore
) -> tuple[Scope | None, str | None]:
    """X-Scope, else the scope remembered for the token (None: the configured default)."""
    text = headers.get(SCOPE_HEADER)
    if text:
        return _parsed(text), text
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


def _check_hops(headers: CIMultiDictProxy[str], own: str) -> None:
    """A request that crossed this proxy already (a catalog or an endpoint naming the
    proxy looped 64 hops deep, issue 15), or too many proxies, is refused."""
    hops = [hop.strip() for value in headers.getall(HOP_HEADER) for hop in value.split(",")]
    if own in hops or len(hops) >= MAX_HOPS:
        raise LoopDetected(
            f"the request came back to this proxy or crossed {len(hops)} proxies: a loop"
        )


async def _caller_checked(app: web.Application, call: ProxyRequest) -> None:
    """Before several clouds are asked: the token is required and checked once at its
    issuer. `*&*...` with any token made 2,550 cloud calls before the 401 (issue 15)."""
    if call.service_type == IDENTITY:
        return  # logins carry no token; a Keystone failover asks one cloud at a time
    if call.token is None:
        raise Unauthorized("a request to several clouds needs an X-Auth-Token: authenticate first")
    await app[STRATEGY].check_caller(call.decision.issuer, call.token)


async def _answer(request: web.Request, call: ProxyRequest) -> web.StreamResponse:
    app = request.app
    executor = app[EXECUTOR]
    decision = call.decision
    single = decision.single
    if single is not None:
        if is_catalog_resource(call):
            found = await catalog_resource(executor, call, single)
            return web.Response(status=found.status, headers=found.headers, body=found.body)
        upstream = await executor.relay_one(call, single)
        return await app[RELAY].answer(request, call, single.name, upstream)
    await _caller_checked(app, call)
    plan = decision.node
    if isinstance(call.body, StreamedBody):
        clouds = members(plan)
        assert clouds is not None  # a body is streamed only to a `|` of clouds
        return await relay_first(app[RELAY], executor.send, request, call, clouds)
    if isinstance(plan, AnyNode) and not fans_out(plan):
        # Failover between single clouds: the answer streams, nothing held whole, unless
        # it is a JSON listing to collect (its pages followed, as for a merge).
        index, upstream, failed = await executor.first_answer(call, plan)
        if not _collectable(call, upstream):
            extra = ((PARTIAL_FAILURE, "; ".join(failed)[:4000]),) if failed else ()
            cloud = plan.children[index].cloud  # type: ignore[union-attr]
            return await app[RELAY].answer(request, call, cloud.name, upstream, extra)
        result = await executor.failover_from(call, plan, index, upstream, failed)
    else:
        result = await executor.execute(call, plan)
    body = app[HOOKS].token_answer(call, result.headers, result.body)
    headers = CIMultiDict(result.headers)
    return await app[RELAY].whole(request, result.status, headers, body)


def _collectable(call: ProxyRequest, upstream: UpstreamResponse) -> bool:
    """A GET's JSON answer below 500 and without `limit`: maybe a listing to collect."""
    return (
        call.method == "GET"
        and upstream.status < 500
        and upstream.content_type == "application/json"
        and "limit" not in call.params
    )


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
    token: str | None = None
    noted: str | None = None
    """The scope to remember for the token once it was accepted (X-Scope or the URL's)."""
    try:
        if request.method not in METHODS:
            raise MethodNotAllowed(f"method {request.method} is not one OpenStack uses", ALLOWED)
        if service_type not in SERVICES:
            raise NotFound(f"openstackoid serves no service {service_type!r} at {request.path}")
        headers = request.headers
        if HOP_HEADER in headers:
            _check_hops(headers, app[HOP_ID])
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
            scope: Scope | None = _parsed(scope_text)
            noted = scope_text
            source = "header"
            if url_scope is not None and url_scope.scope != scope:
                source = "header (the URL's scope differs and was not applied)"
        elif url_scope is not None:
            scope, scope_text = url_scope.scope, url_scope.text
            noted = scope_text  # Nova's calls for the user keep it
            source = "url"
        else:
            scope, scope_text = await _recalled_scope(token, app[MEMORY])
            source = "token" if scope is not None else "default"
        request[APPLIED] = (scope_text, scope or app[PLANNER].default, source)
        decision = app[PLANNER].decide(request.method, service_type, path, scope, scope_text)
        plan = decision.node
        single = decision.single
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
                request.remote or "",
            )
        )
        response = await _answer(request, call)
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
    if token and noted and response.status < 400:
        # Remembered once the token was accepted, never a stranger's (issue 15); a shared
        # memory's write is awaited, so the next call through any process finds it.
        stored = app[MEMORY].note(token, noted)
        if stored is not None:
            await stored
    known = service_type if service_type in SERVICES else UNKNOWN_SERVICE
    metrics.count_request(known, response.status)
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
                    "service": known,
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
            decision = route(
                "GET",
                service_type,
                "",
                scope,
                request.app[REGISTRY],
                default_scope,
                request.app[CONFIG].max_fanout,
            )
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
    from openstackoid.registry.sync import RegistrySync, snapshot_for

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
    async with shared_rules(app[RULES], app[RULE_STORE], app[HEALTH_SOURCES]):
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
        registry,
        parse_scope(config.default_scope) if config.default_scope else None,
        max_fanout=config.max_fanout,
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
    app[DESTINATIONS] = Destinations()
    app[HOP_ID] = config.proxy_id or uuid.uuid4().hex[:16]
    hide_request_lines()
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
                slot_wait=config.slot_wait_timeout,
            )
            logins = Logins(session)
            context = StrategyContext(
                logins,
                app[RULES],
                registry,
                config.token_cache_seconds,
                app[METRICS].count_denial,
            )
            app[STRATEGY] = make_strategy(config.identity_strategy, context)
            client = CloudClient(
                pool,
                app[STRATEGY],
                app[BREAKERS],
                app[METRICS],
                EndpointCatalog(catalog_of=logins.catalog),
                session,
                app[DESTINATIONS],
                app[HOP_ID],
            )
            limits = Limits(
                config.fanout_concurrency, config.total_timeout, config.max_rewrite_bytes
            )
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
    app = make_app(config, registry, rules)
    # keepalive_timeout bounds a request head's arrival too: the slowloris bound.
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=config.request_head_timeout)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    app[DESTINATIONS].own.add((host, bound))
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://{host}:{bound}"
    finally:
        await runner.cleanup()
