"""Hostile clients and hostile clouds (issue 15): what each attack costs the proxy.

For every attack a fresh proxy (its own process, in front of a testbed of simulated clouds
and a few raw-socket hostile clouds served here) is measured twice with the same normal
client running all along (a GET listing of one cloud, valid token, fixed concurrency):
first alone (the idle baseline), then beside the attack. Printed per attack, as ratios
against that baseline: the proxy's CPU seconds per wall second, its peak RSS, the RSS it
kept after the attack, and the normal client's p99. Every attack is bounded in requests and
seconds, and stays on loopback.

`python -m bench.bench_hostile [--quick]`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.contenders import cpu_seconds, rss_mb
from bench.report import save
from bench.servers import Fleet, issue_token, start_proxy, start_testbed, stop
from openstackoid.proxy import ProxyConfig

ADMIN = "bench-hostile-admin"
NORMAL_SCOPE = "{keystone: cloud-1; glance: cloud-2}"
NORMAL_CONCURRENCY = 2
MiB = 1024 * 1024
_SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class Sizes:
    """How big each attack is: the issue's figures, or a quick check."""

    clouds: int
    window: float
    """Seconds of the baseline, and the most any attack may last."""
    requests: int
    """Requests of the request-count attacks (scopes, tokens, paths)."""
    huge_json: int
    download: int
    headers: int
    slow_uploads: int
    slowloris: int

    @classmethod
    def of(cls, quick: bool) -> Sizes:
        if quick:
            return cls(100, 3.0, 200, 64 * MiB, 32 * MiB, 20_000, 66, 50)
        return cls(1000, 10.0, 2000, 512 * MiB, 200 * MiB, 100_000, 66, 500)


@dataclass
class Target:
    """The proxy under attack and what an attack needs to reach it."""

    url: str
    pid: int
    token: str
    """The normal client's token."""
    attacker: str
    """The attacker's own valid token (another login of the same user): a share of a
    cloud's slots is per token."""
    sizes: Sizes
    session: aiohttp.ClientSession
    deadline: float = 0.0

    def left(self) -> float:
        return self.deadline - time.monotonic()


@dataclass
class Window:
    """One measured stretch: the proxy's CPU and RSS, the normal client's latencies."""

    seconds: float = 0.0
    cpu: float = 0.0
    peak_rss: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: int = 0

    @property
    def cpu_rate(self) -> float:
        return self.cpu / self.seconds if self.seconds else 0.0

    @property
    def p99(self) -> float:
        if len(self.latencies) < 2:
            return max(self.latencies, default=float("nan"))
        return statistics.quantiles(self.latencies, n=100)[98]


# Hostile clouds: raw sockets, so they send exactly the bytes an attack needs.

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def huge_json(size: int) -> RawHandler:
    """An image list of `size` bytes, chunked: to be merged in a fan-out."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        writer.write(head + b"Transfer-Encoding: chunked\r\n\r\n" + _chunk(b'{"images": ['))
        item = json.dumps({"id": "x" * 36, "name": "n" * 200}).encode()
        piece = _chunk(b",".join([item] * (64 * 1024 // len(item))) + b",")
        for _ in range(size // len(piece)):
            writer.write(piece)
            await writer.drain()
        writer.write(_chunk(item + b"]}") + b"0\r\n\r\n")
        await writer.drain()

    return handler


def download(size: int) -> RawHandler:
    """An image file of `size` bytes with its length."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        writer.write(f"{head}Content-Length: {size}\r\n\r\n".encode())
        block = b"d" * MiB
        for _ in range(size // MiB):
            writer.write(block)
            await writer.drain()

    return handler


def many_headers(count: int) -> RawHandler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        fields = b"".join(b"X-Junk-%d: v\r\n" % n for n in range(count))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + fields + b"\r\n{}")
        await writer.drain()

    return handler


async def _keystone(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
) -> None:
    """A token for the proxy's own credentials, as Keystone issues it."""
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    await reader.readexactly(length)
    expires = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() + 3600))
    body = json.dumps({"token": {"expires_at": expires, "catalog": []}}).encode()
    writer.write(
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
        b"X-Subject-Token: hostile-cloud-token\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    await writer.drain()


@contextlib.asynccontextmanager
async def raw_cloud(handler: RawHandler) -> AsyncIterator[str]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: one answer per request head
                head = await reader.readuntil(b"\r\n\r\n")
                if head.startswith(b"POST /identity/v3/auth/tokens "):
                    await _keystone(reader, writer, head)
                else:
                    await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


async def register(target: Target, name: str, url: str, image: str | None = None) -> None:
    """A hostile cloud in the running proxy's registry, through its admin API: its
    Keystone at `url`, its image service there too unless `image` says where."""
    body = {
        "auth_url": f"{url}/identity/v3",
        "endpoints": {"image": image or f"{url}/image"},
        "credentials": {"username": "admin", "password": "pw", "project_name": "admin"},
    }
    async with target.session.put(
        f"{target.url}/_openstackoid/admin/clouds/{name}",
        json=body,
        headers={"X-Admin-Token": ADMIN},
    ) as resp:
        if resp.status not in (200, 201):
            raise RuntimeError(f"registering {name}: {resp.status} {await resp.text()}")


# Attacks: each sends at most its count, stops at the target's deadline, and reads
# nothing it need not.


async def _send(
    target: Target,
    path: str,
    headers: dict[str, str],
    method: str = "GET",
    read: bool = True,
) -> None:
    timeout = aiohttp.ClientTimeout(total=max(0.1, target.left()))
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with target.session.request(
            method, f"{target.url}{path}", headers=headers, timeout=timeout
        ) as resp:
            if read:
                await resp.read()


async def _flood(target: Target, requests: list[Callable[[], Awaitable[None]]]) -> None:
    """Send requests 16 at a time until done or out of time."""
    queue = list(reversed(requests))

    async def worker() -> None:
        while queue and target.left() > 0:
            await queue.pop()()

    await asyncio.gather(*(worker() for _ in range(16)))


def _stars(terms: int) -> str:
    return "{keystone: cloud-1; glance: " + "&".join(["*"] * terms) + "}"


async def duplicate_terms(target: Target) -> None:
    """`*&*&...`: the same clouds named again and again, no valid token."""
    headers = {"X-Scope": _stars(120), "X-Auth-Token": "anything"}
    await _flood(target, [lambda: _send(target, "/image/v2/images", headers)] * 20)


async def explain_scope(target: Target) -> None:
    headers = {"X-Scope": _stars(120)}
    await _flood(target, [lambda: _send(target, "/_openstackoid/scope", headers)] * 50)


async def distinct_scopes(target: Target) -> None:
    """Distinct valid scopes at the size limits: the parse and plan caches fill."""
    clouds = [f"cloud-{i}" for i in range(1, target.sizes.clouds + 1)]

    def one() -> Callable[[], Awaitable[None]]:
        names = random.sample(clouds, min(100, len(clouds)))
        scope = "{keystone: cloud-1; glance: " + " & ".join(names) + "}"
        headers = {"X-Scope": scope, "X-Auth-Token": "anything"}
        return lambda: _send(target, "/image/v2/images", headers)

    await _flood(target, [one() for _ in range(target.sizes.requests // 2)])


async def invalid_scopes(target: Target) -> None:
    def one(n: int) -> Callable[[], Awaitable[None]]:
        scope = "{glance: " + " & ".join(f"c{n}-{i}" for i in range(100)) + " &}"
        return lambda: _send(target, "/image/v2/images", {"X-Scope": scope})

    await _flood(target, [one(n) for n in range(target.sizes.requests)])


async def random_tokens(target: Target) -> None:
    """Tokens nobody issued, each with a scope: the token -> scope memory."""

    def one() -> Callable[[], Awaitable[None]]:
        headers = {"X-Scope": NORMAL_SCOPE, "X-Auth-Token": secrets.token_hex(16)}
        return lambda: _send(target, "/image/v2/images", headers)

    await _flood(target, [one() for _ in range(target.sizes.requests)])


async def random_paths(target: Target) -> None:
    """Unknown services: a metrics series each."""

    def one() -> Callable[[], Awaitable[None]]:
        path = f"/{secrets.token_hex(8)}/x"
        return lambda: _send(target, path, {})

    await _flood(target, [one() for _ in range(target.sizes.requests)])


async def huge_merge(target: Target) -> None:
    """`{image: huge & cloud-1}` with a cloud sending a huge image list."""
    async with raw_cloud(huge_json(target.sizes.huge_json)) as url:
        await register(target, "huge", url)
        headers = {"X-Scope": "{keystone: cloud-1; glance: huge & cloud-1}"}
        headers["X-Auth-Token"] = target.attacker
        await _send(target, "/image/v2/images", headers)


async def failover_downloads(target: Target) -> None:
    """Three downloads under `big | cloud-3`, their clients never reading."""
    async with raw_cloud(download(target.sizes.download)) as url:
        await register(target, "big", url)
        headers = {"X-Scope": "{keystone: cloud-1; glance: big | cloud-3}"}
        headers["X-Auth-Token"] = target.attacker
        path = "/image/v2/images/x/file"
        await asyncio.gather(*(_send(target, path, headers, read=False) for _ in range(3)))


async def _raw_connection(
    target: Target, data: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = target.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    return reader, writer


async def _hold(target: Target, writers: list[asyncio.StreamWriter], drip: bytes) -> None:
    """Keep connections open, a byte every few seconds, until the deadline."""
    try:
        while target.left() > 0:
            await asyncio.sleep(min(5.0, max(0.0, target.left())))
            for writer in writers:
                if not writer.is_closing():
                    writer.write(drip)
    finally:
        for writer in writers:
            writer.transport.abort()


async def _image(target: Target) -> str:
    headers = {"X-Scope": NORMAL_SCOPE, "X-Auth-Token": target.attacker}
    body = {"name": "slow", "disk_format": "raw", "container_format": "bare"}
    async with target.session.post(
        f"{target.url}/image/v2/images", json=body, headers=headers
    ) as resp:
        return str((await resp.json())["id"])


async def slow_uploads(target: Target) -> None:
    """Uploads to cloud-2 (the normal client's cloud) sending a byte every 5 s."""
    images = await asyncio.gather(*(_image(target) for _ in range(target.sizes.slow_uploads)))
    writers = []
    for image in images:
        head = (
            f"PUT /image/v2/images/{image}/file HTTP/1.1\r\nHost: proxy\r\n"
            f"X-Auth-Token: {target.attacker}\r\nX-Scope: {NORMAL_SCOPE}\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n"
        ).encode()
        writers.append((await _raw_connection(target, head + b"u"))[1])
    await _hold(target, writers, b"u")


async def slowloris(target: Target) -> None:
    head = b"GET /image/v2/images HTTP/1.1\r\nHost: proxy\r\n"
    writers = [(await _raw_connection(target, head))[1] for _ in range(target.sizes.slowloris)]
    await _hold(target, writers, b"X-a: b\r\n")


async def header_flood(target: Target) -> None:
    """A cloud answering with a huge number of headers."""
    async with raw_cloud(many_headers(target.sizes.headers)) as url:
        await register(target, "heady", url)
        headers = {"X-Scope": "{keystone: cloud-1; glance: heady}", "X-Auth-Token": target.attacker}
        await _flood(target, [lambda: _send(target, "/image/v2/images", headers)] * 20)


async def self_loop(target: Target) -> None:
    """A cloud whose image endpoint is the proxy itself."""
    async with raw_cloud(many_headers(0)) as url:
        await register(target, "loop", url, image=f"{target.url}/image")
        await _loop_requests(target)


async def _loop_requests(target: Target) -> None:
    headers = {"X-Scope": "{keystone: cloud-1; glance: loop}", "X-Auth-Token": target.attacker}
    await _flood(target, [lambda: _send(target, "/image/v2/images", headers)] * 5)


async def bad_header_tokens(target: Target) -> None:
    """Requests aiohttp refuses, a token in the offending line (its traceback is logged)."""

    async def one() -> None:
        line = f"X-Auth-Token: {target.attacker}\x7f\r\n".encode("latin-1")
        reader, writer = await _raw_connection(
            target, b"GET /image/v2/images HTTP/1.1\r\nHost: p\r\n" + line + b"\r\n"
        )
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(reader.read(), max(0.1, target.left()))
        writer.transport.abort()

    await _flood(target, [one] * (target.sizes.requests // 4))


ATTACKS: dict[str, Callable[[Target], Awaitable[None]]] = {
    "duplicate_terms": duplicate_terms,
    "explain_scope": explain_scope,
    "distinct_scopes": distinct_scopes,
    "invalid_scopes": invalid_scopes,
    "random_tokens": random_tokens,
    "random_paths": random_paths,
    "huge_merge": huge_merge,
    "failover_downloads": failover_downloads,
    "slow_uploads": slow_uploads,
    "slowloris": slowloris,
    "header_flood": header_flood,
    "self_loop": self_loop,
    "bad_header_tokens": bad_header_tokens,
}


# Measurement.


async def _normal_requests(url: str, token: str, seconds: float) -> tuple[list[float], int]:
    headers = {"X-Scope": NORMAL_SCOPE, "X-Auth-Token": token}
    timeout = aiohttp.ClientTimeout(total=30)
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds

    async def one_client(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                async with session.get(
                    f"{url}/image/v2/images", headers=headers, timeout=timeout
                ) as resp:
                    await resp.read()
                    failures += resp.status != 200
            except (aiohttp.ClientError, TimeoutError):
                failures += 1
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one_client(session) for _ in range(NORMAL_CONCURRENCY)))
    return latencies, failures


def _normal_process(url: str, token: str, seconds: float, conn: Connection) -> None:
    """The normal client in a process of its own: the attack's load on the bench's event
    loop must not count as the proxy's latency."""
    conn.send("ready")
    conn.send(asyncio.run(_normal_requests(url, token, seconds)))


async def _sample_rss(pid: int, window: Window, stop: asyncio.Event) -> None:
    while not stop.is_set():
        window.peak_rss = max(window.peak_rss, rss_mb(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


async def _attack_until_deadline(
    target: Target, attack: Callable[[Target], Awaitable[None]] | None
) -> None:
    try:
        if attack is not None:
            await asyncio.wait_for(attack(target), target.sizes.window)
    except TimeoutError:
        pass  # the attack's own bound: what was sent by then counts


async def measure(target: Target, attack: Callable[[Target], Awaitable[None]] | None) -> Window:
    """A window of the normal client beside `attack` (or alone, for the baseline); it
    lasts until the normal client's last request of the window is answered."""
    window = Window()
    parent, child = _SPAWN.Pipe()
    normal = _SPAWN.Process(
        target=_normal_process, args=(target.url, target.token, target.sizes.window, child)
    )
    normal.start()
    await asyncio.to_thread(parent.recv)  # started: its imports are not the window's
    target.deadline = time.monotonic() + target.sizes.window
    cpu_before, started = cpu_seconds(target.pid), time.monotonic()
    stop = asyncio.Event()
    sampler = asyncio.ensure_future(_sample_rss(target.pid, window, stop))
    attacker = asyncio.ensure_future(_attack_until_deadline(target, attack))
    try:
        window.latencies, window.failures = await asyncio.to_thread(parent.recv)
        window.seconds = time.monotonic() - started
        window.cpu = cpu_seconds(target.pid) - cpu_before
    finally:
        normal.join()
        await attacker
        stop.set()
        await sampler
    return window


def _ratios(baseline: Window, attacked: Window, kept_rss: float) -> dict[str, float]:
    def ratio(a: float, b: float) -> float:
        return round(a / b, 2) if b else float("nan")

    return {
        "cpu_seconds": round(attacked.cpu, 2),
        "cpu_rate/idle": ratio(attacked.cpu_rate, baseline.cpu_rate),
        "peak_rss_mb": attacked.peak_rss,
        "peak_rss/idle": ratio(attacked.peak_rss, baseline.peak_rss),
        "kept_rss/idle": ratio(kept_rss, baseline.peak_rss),
        "p99_ms": round(attacked.p99 * 1000, 1),
        "p99/idle": ratio(attacked.p99, baseline.p99),
        "normal_failures": attacked.failures,
    }


async def _one_attack(
    name: str, clouds_yaml: str, tokens: tuple[str, str], sizes: Sizes
) -> dict[str, float]:
    config = ProxyConfig(clouds_yaml=clouds_yaml, admin_token=ADMIN)
    process, url = await start_proxy(config, quiet=True)
    try:
        assert process.pid is not None
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            target = Target(url, process.pid, *tokens, sizes, session)
            await measure(target, None)  # warm: pools, caches, the token
            baseline = await measure(target, None)
            attacked = await measure(target, ATTACKS[name])
            return _ratios(baseline, attacked, rss_mb(process.pid))
    finally:
        stop(process)


async def _run(quick: bool, only: list[str] | None) -> dict[str, Any]:
    sizes = Sizes.of(quick)
    names = only or list(ATTACKS)
    figures: dict[str, Any] = {"clouds": sizes.clouds, "window_s": sizes.window, "attacks": {}}
    with tempfile.TemporaryDirectory() as workdir, Progress() as progress:
        task = progress.add_task(f"testbed of {sizes.clouds} clouds", total=len(names))
        bed, clouds_yaml = await start_testbed(Fleet(clouds=sizes.clouds), Path(workdir))
        try:
            tokens = (await issue_token(clouds_yaml), await issue_token(clouds_yaml))
            for name in names:
                progress.update(task, description=f"attack: {name}")
                figures["attacks"][name] = await _one_attack(name, clouds_yaml, tokens, sizes)
                progress.advance(task)
        finally:
            stop(bed)
    return figures


def run(quick: bool = False, only: list[str] | None = None) -> dict[str, Any]:
    return asyncio.run(_run(quick, only))


def _table(figures: dict[str, Any]) -> Table:
    table = Table(title=f"hostile peers, {figures['clouds']} clouds, ratios to idle")
    columns = ["cpu_seconds", "cpu_rate/idle", "peak_rss/idle", "kept_rss/idle", "p99/idle"]
    table.add_column("attack")
    for column in [*columns, "normal_failures"]:
        table.add_column(column, justify="right")
    for name, row in figures["attacks"].items():
        table.add_row(name, *(str(row[c]) for c in [*columns, "normal_failures"]))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small attacks, 100 clouds")
    parser.add_argument("--only", nargs="*", choices=list(ATTACKS), help="these attacks")
    args = parser.parse_args()
    figures = run(args.quick, args.only)
    save("hostile_quick.json" if args.quick else "hostile.json", figures)
    Console(width=140).print(_table(figures))


if __name__ == "__main__":
    main()
