"""`openstackoid proxy` serves a registry from a clouds.yaml until SIGTERM."""

import asyncio
import json
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp

from proxy.metrics import FLUSH_SECONDS
from testbed import Testbed


async def _start_proxy(
    testbed: Testbed, tmp_path: Path, *args: str, stderr: int | None = None
) -> tuple[asyncio.subprocess.Process, str]:
    """`openstackoid proxy` over the testbed's clouds.yaml on a free port: process, base URL."""
    clouds_yaml = testbed.write_clouds_yaml(tmp_path / "clouds.yaml")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "openstackoid_cli",
        "proxy",
        "--clouds-yaml",
        str(clouds_yaml),
        "--port",
        str(port),
        *args,
        stderr=stderr,
    )
    return process, f"http://127.0.0.1:{port}"


async def _health(session: aiohttp.ClientSession, base: str) -> Any:
    """/healthz once the proxy answers (it may still be loading its registry)."""
    for _ in range(200):
        try:
            async with session.get(f"{base}/healthz") as resp:
                return await resp.json()
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"{base} never answered /healthz")


async def test_proxy_command_serves_and_stops_gracefully(testbed: Testbed, tmp_path: Path) -> None:
    process, base = await _start_proxy(testbed, tmp_path, "--default-scope", "{*: cloud-2}")
    try:
        async with aiohttp.ClientSession() as session:
            health = await _health(session, base)
            assert health["clouds"] == 3
            async with session.get(f"{base}/identity/v3") as resp:
                assert resp.status == 200
        assert [r.path for r in testbed.requests("cloud-2")] == ["/identity/v3"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0


async def test_workers_share_one_metrics_view(testbed: Testbed, tmp_path: Path) -> None:
    """With --workers 2 the kernel spreads connections over both; /metrics in either worker
    counts every request the proxy answered."""
    process, base = await _start_proxy(
        testbed,
        tmp_path,
        "--default-scope",
        "{*: cloud-1}",
        "--workers",
        "2",
        "--scope-memory",
        "local",
    )
    sent = 40
    try:
        # A new connection per request: reuse_port spreads connections, not requests.
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            await _health(session, base)
            for _ in range(sent):
                async with session.get(f"{base}/identity/v3") as resp:
                    assert resp.status == 200
            await asyncio.sleep(FLUSH_SECONDS + 0.5)  # each worker folds its counts in
            counts = []
            for _ in range(10):  # scrapes land on either worker: each must see both
                async with session.get(f"{base}/metrics") as resp:
                    text = await resp.text()
                counts.append(
                    sum(
                        float(line.rsplit(" ", 1)[1])
                        for line in text.splitlines()
                        if line.startswith("openstackoid_requests_total{")
                    )
                )
        assert counts == [sent] * 10
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0


async def test_workers_write_the_access_log(testbed: Testbed, tmp_path: Path) -> None:
    """`--access-log --workers 2`: each spawned worker logs its requests (a spawned process
    starts with logging unconfigured, and its INFO lines used to vanish), one line each."""
    process, base = await _start_proxy(
        testbed,
        tmp_path,
        "--default-scope",
        "{*: cloud-1}",
        "--workers",
        "2",
        "--scope-memory",
        "local",
        "--access-log",
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[str] = []

    async def collect(stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            lines.append(line.decode())

    sent: list[str] = []
    async with asyncio.TaskGroup() as group:
        group.create_task(collect(process.stderr))
        try:
            # Both workers up first (each logs its notice), so the requests spread over both.
            for _ in range(300):
                if sum("openstackoid.proxy serving 3 clouds" in line for line in lines) == 2:
                    break
                await asyncio.sleep(0.1)
            connector = aiohttp.TCPConnector(force_close=True)  # connections spread
            async with aiohttp.ClientSession(connector=connector) as session:
                await _health(session, base)
                for _ in range(20):
                    async with session.get(f"{base}/identity/v3") as resp:
                        assert resp.status == 200
                        sent.append(resp.headers["X-Openstackoid-Request-Id"])
        finally:
            process.send_signal(signal.SIGTERM)  # stderr ends once every worker has exited
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
    stderr = "".join(lines)
    logged = [
        json.loads(line.split(" openstackoid.access ", 1)[1])
        for line in stderr.splitlines()
        if " openstackoid.access " in line
    ]
    assert sorted(entry["id"] for entry in logged) == sorted(sent)
    assert len(set(sent)) == 20  # workers never share request ids
    assert stderr.count("openstackoid.proxy serving 3 clouds") == 2  # each worker's notice
