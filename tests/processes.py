"""Helpers for tests that run `openstackoid` commands as processes and watch their output."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from typing import IO, Any

import aiohttp


async def wait_for_line(
    stream: asyncio.StreamReader, needle: str, seen: list[str] | None = None, seconds: float = 60
) -> str:
    """The first line of `stream` holding `needle`; every line read is kept in `seen`.
    Fails if the stream ends first (the process exited) or after `seconds`."""
    lines = seen if seen is not None else []

    async def read() -> str:
        while line := (await stream.readline()).decode():
            lines.append(line)
            if needle in line:
                return line
        raise AssertionError(f"{needle!r} never printed:\n{''.join(lines)}")

    return await asyncio.wait_for(read(), timeout=seconds)


async def stop(
    process: asyncio.subprocess.Process,
    seconds: float = 30,
    signum: int | None = signal.SIGTERM,
    drain: bool = True,
) -> int:
    """Ask `process` to end (SIGTERM: its own cleanup runs; None: it was asked already) and
    wait at most `seconds`; a process that does not end then is killed, so no test leaves
    one behind, and the test fails saying so. Its exit code. `drain` False: another task
    reads its pipes (two readers of one stream is an error)."""
    if process.returncode is not None:
        return process.returncode
    if signum is not None:
        process.send_signal(signum)
    try:
        # communicate, not wait: a process blocked writing to a full pipe never ends.
        ending = process.communicate() if drain else process.wait()
        await asyncio.wait_for(ending, timeout=seconds)
        assert process.returncode is not None
        return process.returncode
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(
            f"pid {process.pid} did not end within {seconds} s of signal {signum}: killed"
        ) from None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_proxy(
    *args: str, port: int | None = None, stderr: int | IO[bytes] | None = None
) -> tuple[asyncio.subprocess.Process, str]:
    """`openstackoid proxy --port PORT ARGS` (a free port unless given): process, base URL.
    The caller stops it (`stop`) and waits for it to answer (`health`)."""
    port = free_port() if port is None else port
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "openstackoid.cli", "proxy", "--port", str(port), *args,
        stderr=stderr,
    )  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


async def health(session: aiohttp.ClientSession, base: str, seconds: float = 20) -> Any:
    """/healthz once the proxy answers (it may still be loading its registry)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            async with session.get(f"{base}/healthz") as resp:
                return await resp.json()
        except aiohttp.ClientConnectionError:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{base} never answered /healthz") from None
            await asyncio.sleep(0.1)


async def all_workers_answer(base: str, workers: int = 2, tries: int = 500) -> None:
    """Workers start one after the other and the kernel spreads new connections over those
    listening: new connections until `workers` distinct workers have answered."""
    seen: set[str] = set()
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(tries):
            async with session.get(f"{base}/identity/v3") as resp:
                seen.add(worker_of(resp))
            if len(seen) == workers:
                return
            await asyncio.sleep(0.02)
    raise AssertionError(f"only {len(seen)} of {workers} workers of {base} ever answered")


def worker_of(resp: aiohttp.ClientResponse) -> str:
    """A request id's prefix is its worker's (proxy/request_ids.py)."""
    return resp.headers["X-Openstackoid-Request-Id"][:-12]
