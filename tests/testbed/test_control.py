"""The control API and the `openstackoid testbed up|fault` commands."""

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

from openstackoid.testbed import Faults, Testbed
from openstackoid.testbed.control import make_control_app
from tests.processes import stop


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_control_api_sets_and_validates_faults(testbed: Testbed) -> None:
    runner = web.AppRunner(make_control_app(testbed))
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/faults/cloud-2", json={"latency": 0.5}) as resp:
                assert resp.status == 200
            assert testbed.faults("cloud-2") == Faults(latency=0.5)
            for bad in ({"latency": -1}, {"outage": "yes"}, {"nope": 1}, {"error_rate": 2}, [1]):
                async with session.post(f"{base}/faults/cloud-2", json=bad) as resp:
                    assert resp.status == 400
                    assert (await resp.json())["error"]["message"]
            async with session.post(f"{base}/faults/cloud-9", json={}) as resp:
                assert resp.status == 404
            async with session.get(f"{base}/clouds") as resp:
                clouds = (await resp.json())["clouds"]
            assert [c["name"] for c in clouds] == ["cloud-1", "cloud-2", "cloud-3"]
    finally:
        await runner.cleanup()


async def test_testbed_up_and_fault_commands(tmp_path: Path) -> None:
    control = _free_port()
    clouds_yaml = tmp_path / "clouds.yaml"
    up = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "openstackoid.cli",
        "testbed",
        "up",
        "--clouds",
        "2",
        "--clouds-yaml",
        str(clouds_yaml),
        "--control-port",
        str(control),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert up.stdout is not None
        line = b""
        while b"control API" not in line:
            line = await asyncio.wait_for(up.stdout.readline(), timeout=30)
            assert line, "testbed up exited early"
        fault = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "openstackoid.cli",
            "testbed",
            "fault",
            "cloud-1",
            "--outage",
            "--control-url",
            f"http://127.0.0.1:{control}",
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await fault.communicate()
        assert fault.returncode == 0
        assert json.loads(out)["faults"]["outage"] is True
        assert "cloud-2" in clouds_yaml.read_text()
    finally:
        assert await stop(up) == 0
