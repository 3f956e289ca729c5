"""`openstackoid proxy` serves a registry from a clouds.yaml until SIGTERM."""

import asyncio
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from testbed import Testbed


async def test_proxy_command_serves_and_stops_gracefully(testbed: Testbed, tmp_path: Path) -> None:
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
        "--default-scope",
        "{*: cloud-2}",
    )
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        health = await resp.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            assert health["clouds"] == 3
            async with session.get(f"http://127.0.0.1:{port}/identity/v3") as resp:
                assert resp.status == 200
        assert [r.path for r in testbed.requests("cloud-2")] == ["/identity/v3"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
