"""Proxy configuration: a frozen value loaded from YAML, overridable by flags."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from openstackoid.proxy.identity import STRATEGIES
from openstackoid.registry.snapshot import SNAPSHOT_NAME
from openstackoid.scope_dsl import parse_scope

IdentityStrategyName = Literal["validate-at-issuer", "passthrough", "blanket-admin-UNSAFE"]
"""For type checkers; the names themselves come from proxy.identity.STRATEGIES (a test
keeps the two equal)."""
EventLoopName = Literal["uvloop", "asyncio"]
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True)
class ProxyConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    """URL clients reach the proxy at; None derives it from each request's Host."""
    default_scope: str | None = None
    """Scope used when a request has none, e.g. "{*: cloud-1}"."""
    identity_strategy: IdentityStrategyName = "validate-at-issuer"
    token_cache_seconds: float = 60.0
    """How long a token validated by its issuer is taken as valid without asking again: the
    bound within which a revoked token is refused everywhere (docs/identity.md)."""
    clouds_yaml: str | None = None
    registry_file: str | None = None
    registry_db: str | None = None
    registry_dsn: str | None = None
    registry_snapshot: str | None = None
    """File keeping the last registry loaded from registry_dsn, served when a proxy starts
    cut off from it. Default: registry-snapshot.json beside the config file, else one per
    store under $XDG_STATE_HOME/openstackoid."""
    connect_timeout: float = 5.0
    total_timeout: float = 120.0
    client_stall_timeout: float = 60.0
    """Seconds a client may take to accept one relayed piece of a streamed answer (at most
    256 KiB: a client slower than ~4 KB/s is dropped at 60 s), or to send the next piece of
    a streamed body. Meanwhile it holds a connection to the cloud and one of its
    limit_per_host slots: stalled clients could otherwise lock a cloud for everyone."""
    limit_per_host: int = 64
    """Requests in flight to one cloud; more wait. Idle connections close after
    keepalive_timeout, so thousands of clouds do not hold thousands of idle sockets."""
    keepalive_timeout: float = 10.0
    circuit_failures: int = 5
    circuit_cooldown: float = 10.0
    fanout_concurrency: int = 250
    """Clouds one fanned-out request talks to at once. At 100, `&` over 1,000 clouds
    answering in 20 ms took 347 ms (ten waves); at 250, 239 ms (bench_fanout)."""
    max_fanout: int = 1024
    """Distinct clouds one request may address (a wider plan is a 400): a federation of
    1,000 clouds fits; `*&*&...` cannot multiply the calls (docs/hostile.md)."""
    slot_wait_timeout: float = 10.0
    """Seconds a request may wait for one of a cloud's limit_per_host slots (one caller
    holds at most half of them); then a 503 says the cloud is busy."""
    request_head_timeout: float = 15.0
    """Seconds a client has to send a whole request head, and a connection may stay idle
    between requests: 500 slowloris connections stayed open 60 s (issue 15)."""
    proxy_id: str | None = None
    """This proxy's name in the hop header it adds (X-Openstackoid-Hop) and refuses to see
    come back; None: random per start, shared by its workers."""
    max_rewrite_bytes: int = 4 * 1024 * 1024
    """The most of a cloud's JSON answer the proxy holds: to rewrite links (beyond it a
    single cloud's answer is relayed as is), to merge or to fail over (beyond it, a 502)."""
    max_replay_bytes: int = 1024 * 1024
    access_log: bool = False
    admin_token: str | None = None
    admin_host: str = "127.0.0.1"
    admin_port: int | None = None
    """When set, /metrics and the admin API leave the main listener for admin_host:admin_port
    (proxy/operator_app.py), where a firewall can keep them from the clouds' users."""
    tls_cert: str | None = None
    """PEM certificate chain of the listener; with tls_key, the proxy serves HTTPS."""
    tls_key: str | None = None
    workers: int = 1
    scope_memory: str | None = None
    """Where the scope each token was last sent with is kept: None, one process's memory;
    `redis://HOST:PORT/DB[?key_prefix=...]`, shared by every worker and proxy of a fleet;
    `local` to keep one memory per worker knowingly (scope-less requests, e.g. Nova's call
    to Glance, then fall back to the default scope on a worker that never saw the token)."""
    event_loop: EventLoopName = "uvloop"
    """uvloop (libuv) cuts the event loop's and sockets' share of each request."""

    def __post_init__(self) -> None:
        if self.default_scope:
            parse_scope(self.default_scope)  # a bad default fails at start, not per request
        if self.event_loop not in ("uvloop", "asyncio"):
            raise ValueError(f"unknown event loop {self.event_loop!r}: uvloop or asyncio")
        if self.token_cache_seconds < 0:
            raise ValueError("token_cache_seconds cannot be negative")
        if self.identity_strategy not in STRATEGIES:
            raise ValueError(
                f"unknown identity strategy {self.identity_strategy!r}: "
                f"one of {', '.join(STRATEGIES)}"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        self._check_scope_memory()

    def _check_scope_memory(self) -> None:
        memory = self.scope_memory
        if memory is not None and memory != "local" and not memory.startswith(REDIS_SCHEMES):
            raise ValueError(f"unknown scope_memory {memory!r}: redis://HOST:PORT/DB, or local")
        if self.workers > 1 and memory is None:
            raise ValueError(
                f"--workers {self.workers} needs a scope memory the workers share: "
                "--scope-memory redis://HOST:PORT/DB (scope_memory in proxy.yaml). Without "
                "it a request with a token but no X-Scope (Nova asking Glance for the user) "
                "reaching another worker falls back to the default scope; "
                "--scope-memory local accepts that"
            )

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> ProxyConfig:
        data: dict[str, Any] = {}
        if path is not None:
            data = yaml.safe_load(Path(path).read_text()) or {}
        data = {str(k).replace("-", "_"): v for k, v in data.items()}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown proxy config keys: {', '.join(unknown)}")
        # Checked once, merged: `workers: 2` in the file and --scope-memory on the command
        # line are valid together.
        merged = {**data, **{k: v for k, v in overrides.items() if v is not None}}
        config = cls(**merged)
        if path is not None and config.registry_dsn and not config.registry_snapshot:
            config = replace(config, registry_snapshot=str(Path(path).parent / SNAPSHOT_NAME))
        return config
