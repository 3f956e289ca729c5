"""`openstackoid proxy --config proxy.yaml`: serve the federation proxy."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import logging
import multiprocessing
import os
import signal
import socket
import tempfile
import uuid
from typing import Any

from aiohttp import web

from proxy.app import DESTINATIONS, make_app
from proxy.config import EventLoopName, ProxyConfig
from proxy.identity import STRATEGIES
from proxy.metrics import MULTIPROC_ENV
from proxy.registry_source import load_registry

log = logging.getLogger("openstackoid.proxy")


def configure_logging() -> None:
    """INFO to stderr (the access log is INFO). A spawned worker starts with logging
    unconfigured: without this its access log and notices would vanish."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


def new_event_loop(name: EventLoopName) -> asyncio.AbstractEventLoop:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _serve(config: ProxyConfig, sock: socket.socket | None) -> None:
    configure_logging()  # no-op where already configured (a single process)
    loop = new_event_loop(config.event_loop)
    asyncio.set_event_loop(loop)
    registry = loop.run_until_complete(load_registry(config))
    app = make_app(config, registry)
    # The registry lives as long as the process: out of the cyclic GC's sight, its thousands
    # of objects stop being traversed at every full collection (and the load's garbage goes).
    gc.collect()
    gc.freeze()
    log.info("serving %d clouds on %s:%d", len(registry), config.host, config.port)
    # run_app handles SIGTERM/SIGINT: stop accepting, finish in-flight, run cleanup_ctx.
    # keepalive_timeout bounds a request head's arrival too (aiohttp closes a connection
    # still waiting for its first request when it ends): the slowloris bound.
    if sock is not None:
        host, port = sock.getsockname()[:2]
        app[DESTINATIONS].own.add((host, port))
        web.run_app(
            app,
            sock=sock,
            access_log=None,
            shutdown_timeout=30,
            keepalive_timeout=config.request_head_timeout,
            print=None,
            loop=loop,
        )
    else:
        app[DESTINATIONS].own.add((config.host, config.port))
        web.run_app(
            app,
            host=config.host,
            port=config.port,
            access_log=None,
            reuse_port=True,
            shutdown_timeout=30,
            keepalive_timeout=config.request_head_timeout,
            print=None,
            loop=loop,
        )


def serve(config: ProxyConfig) -> int:
    if not config.public_url:
        log.warning(
            "public_url is not set: catalogs and links will name whatever Host each client "
            "sent; set it to the URL clients reach the proxy at"
        )
    if config.workers <= 1:
        _serve(config, None)
        return 0
    # One id for every worker: a request looping from one worker to another is caught too.
    config = dataclasses.replace(config, proxy_id=config.proxy_id or uuid.uuid4().hex[:16])
    # reuse_port: each worker binds the same port and the kernel spreads connections.
    # Metrics: prometheus_client's multiprocess mode, one file per worker in a directory
    # the parent owns; /metrics in any worker sums them all. Workers are spawned, not
    # forked, so each imports prometheus_client with the directory already set.
    with tempfile.TemporaryDirectory(prefix="openstackoid-metrics-") as metrics_dir:
        os.environ[MULTIPROC_ENV] = metrics_dir
        context = multiprocessing.get_context("spawn")
        workers = [
            context.Process(target=_serve, args=(config, None), daemon=False)
            for _ in range(config.workers)
        ]
        for worker in workers:
            worker.start()

        def stop(signum: int, _frame: object) -> None:
            # Each worker shuts down gracefully on SIGTERM (run_app); the parent waits.
            for worker in workers:
                if worker.pid is not None and worker.is_alive():
                    os.kill(worker.pid, signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        for worker in workers:
            worker.join()
    return 0


def _run(args: argparse.Namespace) -> int:
    configure_logging()
    overrides: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "clouds_yaml": args.clouds_yaml,
        "registry_db": args.registry_db,
        "registry_dsn": args.registry_dsn,
        "default_scope": args.default_scope,
        "identity_strategy": args.identity_strategy,
        "workers": args.workers,
        "public_url": args.public_url,
        "event_loop": args.event_loop,
        "access_log": args.access_log,
    }
    return serve(ProxyConfig.load(args.config, **overrides))


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("proxy", help="serve the federation proxy")
    parser.add_argument("--config", help="proxy.yaml (keys of proxy.config.ProxyConfig)")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--clouds-yaml", help="import clouds from a clouds.yaml")
    parser.add_argument("--registry-db", help="SQLite registry file")
    parser.add_argument("--registry-dsn", help="PostgreSQL registry shared by a fleet")
    parser.add_argument("--default-scope", help='e.g. "{*: cloud-1}"')
    parser.add_argument("--identity-strategy", choices=list(STRATEGIES))
    parser.add_argument("--workers", type=int)
    parser.add_argument("--public-url")
    parser.add_argument("--event-loop", choices=["uvloop", "asyncio"])
    parser.add_argument(
        "--access-log",
        action="store_true",
        default=None,  # None: the config file decides
        help="one JSON line per request on stderr (logger openstackoid.access)",
    )
    parser.set_defaults(func=_run)
