"""`openstackoid proxy --config proxy.yaml`: serve the federation proxy.

Everything a user can get wrong before the first request (a missing file, a bad scope, a
taken port, a default scope naming no registered cloud) ends here as one CommandError line,
exit code 2. SIGHUP re-reads the clouds.yaml, registry file and SQLite registry. SIGTERM (or
SIGINT) stops gracefully, and a worker ends within STOP_WITHIN seconds of it whatever its clouds,
Redis or PostgreSQL do.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import faulthandler
import gc
import json
import logging
import multiprocessing
import os
import signal
import socket
import ssl
import tempfile
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import yaml
from aiohttp import web

from openstackoid.cli import CommandError, HelpFormatter, describe_error
from openstackoid.proxy.app import DESTINATIONS, make_app
from openstackoid.proxy.config import EventLoopName, ProxyConfig
from openstackoid.proxy.default_scope_check import unknown_default_clouds
from openstackoid.proxy.identity import STRATEGIES
from openstackoid.proxy.identity.rules_source import load_rules
from openstackoid.proxy.listeners import PortInUse, listen
from openstackoid.proxy.metrics import MULTIPROC_ENV
from openstackoid.proxy.operator_app import operator_listener
from openstackoid.proxy.registry_source import load_registry
from openstackoid.proxy.reloader import Reloader
from openstackoid.registry import Registry, RegistryError, RuleBook
from openstackoid.scope_dsl import ScopeSyntaxError

log = logging.getLogger("openstackoid.proxy")


SHUTDOWN_TIMEOUT = 30.0
"""Seconds in-flight requests get to finish after SIGTERM (docs/deploy/openstackoid.service)."""
STOP_WITHIN = 40.0
"""Seconds after the first SIGTERM or SIGINT by which a worker has ended, whatever happens
(systemd's TimeoutStopSec is 45). aiohttp waits up to SHUTDOWN_TIMEOUT twice for a request
still in flight (a cloud holding one: 61 s measured), and a task that loses its cancellation
(asyncio.wait_for on Python 3.11) held a worker's cleanup for good."""
REPORT_SECONDS = 1.0
"""Of STOP_WITHIN, the last seconds left to the loop to log what it still waits on."""
REPORT_TASKS = 50
"""Tasks logged at most (a worker may hold thousands of requests)."""
LOG_FORMAT = "%(asctime)s %(name)s %(message)s"
ACCESS_MARK = " openstackoid.access "
"""What stands between the time and the JSON of an access-log line in LOG_FORMAT."""


def configure_logging() -> None:
    """INFO to stderr (the access log is INFO). A spawned worker starts with logging
    unconfigured: without this its access log and notices would vanish."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)


def access_entries(stderr: str) -> list[dict[str, Any]]:
    """The access-log entries (one JSON object a request) among what `openstackoid proxy
    --access-log` wrote to stderr, in order."""
    lines = stderr.splitlines()
    return [json.loads(line.split(ACCESS_MARK, 1)[1]) for line in lines if ACCESS_MARK in line]


def new_event_loop(name: EventLoopName) -> asyncio.AbstractEventLoop:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


@dataclass(frozen=True)
class Listeners:
    """One worker's sockets: the proxy's, and the operator's (--admin-port) if any."""

    main: socket.socket
    operator: socket.socket | None


def _listen(host: str, port: int, count: int) -> list[socket.socket]:
    try:
        return listen(host, port, count)
    except PortInUse as exc:
        raise CommandError(f"{exc}: stop it or choose another port") from None
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _bind_all(config: ProxyConfig) -> list[Listeners]:
    """Every worker's sockets, bound here so a taken port fails before anything starts."""
    main = _listen(config.host, config.port, config.workers)
    if config.admin_port is None:
        return [Listeners(sock, None) for sock in main]
    try:
        operator = _listen(config.admin_host, config.admin_port, config.workers)
    except CommandError:
        for sock in main:
            sock.close()
        raise
    return [Listeners(m, o) for m, o in zip(main, operator, strict=True)]


def ssl_context(config: ProxyConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise CommandError(
            f"cannot use --tls-cert {config.tls_cert} / --tls-key {config.tls_key}: {exc}"
        ) from None
    return context


async def _load_checked(config: ProxyConfig) -> tuple[Registry, RuleBook]:
    """The configured registry and mapping rules, refused when the registry cannot serve
    the default scope or a rule does not validate."""
    if config.registry_db and not os.path.exists(config.registry_db):
        raise CommandError(
            f"no registry at {config.registry_db}: create it with `openstackoid registry "
            f"--db {config.registry_db} import FILE` (or `add`), or fix --registry-db"
        )
    try:
        registry = await load_registry(config)
        rules = await load_rules(config, registry)
    except (OSError, RegistryError, yaml.YAMLError) as exc:
        raise CommandError(f"cannot load the registry: {describe_error(exc)}") from None
    problems = unknown_default_clouds(config, registry)
    if problems and not config.registry_dsn:  # a shared registry is loaded later, by the app
        raise CommandError(
            f"--default-scope {config.default_scope!r} names unregistered clouds: "
            + "; ".join(problems)
        )
    if len(registry) == 0 and not config.registry_dsn:
        log.warning(
            "NO CLOUDS: the registry is empty, every request will fail until clouds are "
            "added (--clouds-yaml, --registry-db, the admin API, then SIGHUP)"
        )
    return registry, rules


class _Watchdog:
    """Ends the process `within` seconds after arm() unless it ended by itself: the loop
    logs the tasks it still waits on, every thread's stack goes to stderr, then exit 1.
    A thread, so that neither a stuck task nor a blocked call can hold it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, within: float) -> None:
        self._loop = loop
        self._within = within
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(max(self._within - REPORT_SECONDS, 0), self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        reported = threading.Event()

        def report() -> None:
            tasks = list(asyncio.all_tasks(self._loop))
            for task in tasks[:REPORT_TASKS]:
                log.error("shutdown overdue, still waiting: %s", _awaiting(task))
            if len(tasks) > REPORT_TASKS:
                log.error("shutdown overdue: %d more tasks", len(tasks) - REPORT_TASKS)
            reported.set()

        try:
            self._loop.call_soon_threadsafe(report)
        except RuntimeError:  # the loop is closed: the stacks below say where it is
            pass
        reported.wait(REPORT_SECONDS)
        message = f"openstackoid proxy: not ended {self._within:g} s after the stop signal: exit\n"
        os.write(2, message.encode())
        faulthandler.dump_traceback(all_threads=True)
        os._exit(1)


def _awaiting(task: asyncio.Task[Any]) -> str:
    """A task's name and where it waits: its coroutine chain, outermost first."""
    steps = []
    coro: Any = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            steps.append(f"{frame.f_code.co_qualname}:{frame.f_lineno}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return f"{task.get_name()}: {' > '.join(steps)}"


def _stop_on_signals(loop: asyncio.AbstractEventLoop, within: float) -> None:
    """SIGTERM and SIGINT stop the worker as run_app's own handlers would (stop accepting,
    finish in-flight requests, run cleanup_ctx); the first also arms the watchdog."""
    watchdog = _Watchdog(loop, within)

    def stop() -> None:
        watchdog.arm()
        raise web.GracefulExit()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)


def _serve(
    config: ProxyConfig,
    listeners: Listeners,
    registry: Registry | None = None,
    rules: RuleBook | None = None,
    stop_within: float = STOP_WITHIN,
) -> None:
    configure_logging()  # no-op where already configured (a single process)
    loop = new_event_loop(config.event_loop)
    asyncio.set_event_loop(loop)
    if registry is None or rules is None:  # a spawned worker loads its own
        registry = loop.run_until_complete(load_registry(config))
        rules = loop.run_until_complete(load_rules(config, registry))
    app = make_app(config, registry, rules)
    tls = ssl_context(config)
    if listeners.operator is not None:
        app.cleanup_ctx.append(operator_listener(listeners.operator, tls))
    loop.add_signal_handler(signal.SIGHUP, Reloader(config, registry, rules).request)
    _stop_on_signals(loop, stop_within)
    # The registry lives as long as the process: out of the cyclic GC's sight, its thousands
    # of objects stop being traversed at every full collection (and the load's garbage goes).
    gc.collect()
    gc.freeze()
    scheme = "https" if tls else "http"
    log.info("serving %d clouds on %s://%s:%d", len(registry), scheme, *_address(listeners.main))
    log.info("identity: %s, %d mapping rules", config.identity_strategy, len(rules))
    if listeners.operator is not None:
        log.info(
            "operator listener (/metrics, admin API) on %s://%s:%d",
            scheme,
            *_address(listeners.operator),
        )
    app[DESTINATIONS].own.add(_address(listeners.main))
    # keepalive_timeout bounds a request head's arrival too (aiohttp closes a connection
    # still waiting for its first request when it ends): the slowloris bound.
    web.run_app(
        app,
        sock=listeners.main,
        ssl_context=tls,
        access_log=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        keepalive_timeout=config.request_head_timeout,
        print=None,
        handle_signals=False,  # _stop_on_signals
        loop=loop,
    )


def _address(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return str(host), int(port)


def serve(config: ProxyConfig) -> int:
    # A SIGHUP before the serving loop can take it must not kill the proxy (the default
    # action); spawned workers inherit the ignoring until their loop handles it.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    ssl_context(config)  # unusable certificate files fail now, not in every worker
    registry, rules = asyncio.run(_load_checked(config))
    all_listeners = _bind_all(config)
    if not config.public_url:
        log.warning(
            "public_url is not set: catalogs and links will name whatever Host each client "
            "sent; set it to the URL clients reach the proxy at"
        )
    if config.workers <= 1:
        _serve(config, all_listeners[0], registry, rules)
        return 0
    # One id for every worker: a request looping from one worker to another is caught too.
    config = dataclasses.replace(config, proxy_id=config.proxy_id or uuid.uuid4().hex[:16])
    del registry, rules  # each worker loads its own (a Cloud's mappings do not pickle)
    # Each worker accepts on its own SO_REUSEPORT socket of the port (proxy/listeners.py).
    # Metrics: prometheus_client's multiprocess mode, one file per worker in a directory
    # the parent owns; /metrics in any worker sums them all. Workers are spawned, not
    # forked, so each imports prometheus_client with the directory already set.
    with tempfile.TemporaryDirectory(prefix="openstackoid-metrics-") as metrics_dir:
        os.environ[MULTIPROC_ENV] = metrics_dir
        context = multiprocessing.get_context("spawn")
        workers = [
            context.Process(target=_serve, args=(config, listeners), daemon=False)
            for listeners in all_listeners
        ]
        stopping = False

        def relay(signum: int, _frame: object) -> None:
            # Each worker stops gracefully on SIGTERM (_stop_on_signals), reloads on SIGHUP.
            nonlocal stopping
            stopping = stopping or signum != signal.SIGHUP
            for worker in workers:
                if worker.pid is not None and worker.is_alive():
                    os.kill(worker.pid, signal.SIGTERM if signum == signal.SIGINT else signum)

        # Relayed from before the first start: a SIGTERM meanwhile used to end this process
        # alone, its workers serving on. SIGHUP stays ignored until they all run (a spawned
        # process inherits the ignoring, not the handler).
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, relay)
        for worker in workers:
            if not stopping:
                worker.start()
        if stopping:  # a worker started as the stop came may have missed it
            relay(signal.SIGTERM, None)
        signal.signal(signal.SIGHUP, relay)
        for listeners in all_listeners:  # the workers hold their own copies now
            listeners.main.close()
            if listeners.operator is not None:
                listeners.operator.close()
        for worker in workers:
            if worker.pid is not None:
                worker.join()
        return workers_exit_code(workers)


def workers_exit_code(workers: Sequence[multiprocessing.process.BaseProcess]) -> int:
    """0 when every worker ended cleanly, else 1, each other one logged: a supervisor
    (systemd) must see that a worker did not stop cleanly (the watchdog's exit 1). A worker
    the relayed SIGTERM ended before its own handler was set stopped as asked."""
    clean = (None, 0, -signal.SIGTERM)
    failed = [worker for worker in workers if worker.exitcode not in clean]
    for worker in failed:
        log.error("worker pid %s ended with exit code %s", worker.pid, worker.exitcode)
    return 1 if failed else 0


_OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any], str], ...] = (
    (("--host",), {}, "address to listen on"),
    (("--port",), {"type": int}, "port to listen on"),
    (("--public-url",), {}, "URL clients reach the proxy at (catalogs and links name it)"),
    (("--clouds-yaml",), {}, "import clouds from a clouds.yaml (re-read on SIGHUP)"),
    (("--registry-db",), {}, "SQLite registry file (re-read on SIGHUP)"),
    (("--registry-dsn",), {}, "PostgreSQL registry shared by a fleet (followed live)"),
    (("--default-scope",), {}, 'scope of requests that carry none, e.g. "{*: cloud-1}"'),
    (
        ("--identity-strategy",),
        {"choices": list(STRATEGIES)},
        "how identity crosses clouds (docs/identity.md)",
    ),
    (
        ("--token-cache-seconds",),
        {"type": float},
        "how long a validated token is trusted without asking its issuer: the revocation bound",
    ),
    (("--workers",), {"type": int}, "processes sharing the port"),
    (
        ("--scope-memory",),
        {},
        "redis://HOST:PORT/DB[?key_prefix=P]: the scope each token was sent with, shared "
        "by every worker and proxy of a fleet (needed with --workers > 1), or local",
    ),
    (("--event-loop",), {"choices": ["uvloop", "asyncio"]}, "asyncio event loop"),
    (("--tls-cert",), {}, "PEM certificate chain: serve HTTPS (with --tls-key)"),
    (("--tls-key",), {}, "PEM private key of --tls-cert"),
    (
        ("--admin-port",),
        {"type": int},
        "serve /metrics and the admin API on this port only, not on --port",
    ),
    (("--admin-host",), {}, "address of the --admin-port listener"),
)


def _config_default(option: str) -> Any:
    name = option.removeprefix("--").replace("-", "_")
    return next(f.default for f in fields(ProxyConfig) if f.name == name)


def _run(args: argparse.Namespace) -> int:
    configure_logging()
    # Options given on the command line only (the parser's defaults are SUPPRESSed), so
    # the config file's values stand where no flag overrides them.
    overrides = {
        key: value for key, value in vars(args).items() if key not in ("command", "func", "config")
    }
    try:
        config = ProxyConfig.load(getattr(args, "config", None), **overrides)
    except ScopeSyntaxError as exc:
        raise CommandError(f"bad default scope: {exc}") from None
    except (OSError, ValueError, TypeError, yaml.YAMLError) as exc:
        raise CommandError(
            f"bad proxy configuration: {describe_error(exc)} "
            "(`openstackoid proxy --help` lists the options; config keys are their names "
            "with _ for -)"
        ) from None
    return serve(config)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "proxy",
        help="serve the federation proxy",
        description=(
            "Serve the federation proxy. Flags override --config's keys. SIGHUP re-reads "
            "--clouds-yaml, the registry file and --registry-db and applies the changes "
            "without a restart (clouds added through the admin API stay)."
        ),
        formatter_class=HelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--config", help="proxy.yaml with keys of proxy.config.ProxyConfig (default: none)"
    )
    for flags, kwargs, text in _OPTIONS:
        default = _config_default(flags[0])
        shown = "none" if default is None else default
        parser.add_argument(*flags, **kwargs, help=f"{text} (default: {shown})")
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="one JSON line per request on stderr, logger openstackoid.access (default: off)",
    )
    parser.set_defaults(func=_run)
