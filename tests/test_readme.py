"""README's "Running it", taken literally: its commands run in order and work as written.

The commands and the clouds.yaml are read from README.md, so a README that drifts from the
code fails here. Only the proxy's port changes (8080 in the README, a free one here); the
two long-running commands are started in the background, as in their own terminals.
"""

import asyncio
import os
import shlex
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml

from openstackoid.testbed.cli_runner import openstack_executable
from openstackoid.testbed.real.process import free_port
from tests.processes import stop, wait_for_line

pytestmark = pytest.mark.e2e
README = Path(__file__).parent.parent / "README.md"
LONG_RUNNING = {("testbed", "up"): "Ctrl-C to stop", ("proxy",): None}


def running_it_blocks() -> list[str]:
    """The indented blocks of the "Running it" section, in order."""
    text = README.read_text()
    section = text.split("\n## Running it\n", 1)[1].split("\n## ", 1)[0]
    blocks: list[list[str]] = []
    previous_blank = True
    for line in section.splitlines():
        if line.startswith("    ") and line.strip():
            if previous_blank and (not blocks or blocks[-1] != []):
                blocks.append([])
            blocks[-1].append(line[4:])
            previous_blank = False
        else:
            previous_blank = not line.strip()
            if line.strip() and blocks and blocks[-1]:
                blocks.append([])
    return ["\n".join(block) for block in blocks if block]


def test_the_section_has_commands_and_a_clouds_yaml() -> None:
    blocks = running_it_blocks()
    assert any(yaml.safe_load(b).get("clouds") for b in blocks if b.startswith("clouds:"))
    commands = [line for b in blocks for line in b.splitlines() if line.startswith("openstack")]
    assert commands[0].startswith("openstackoid testbed up")
    assert any(c.startswith("openstack --os-cloud") for c in commands)


async def _wait_healthy(url: str, process: asyncio.subprocess.Process) -> None:
    seen = "nothing"
    async with aiohttp.ClientSession() as session:
        for _ in range(1200):
            if process.returncode is not None:
                raise AssertionError(f"the proxy exited with {process.returncode}")
            try:
                async with session.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
                    seen = f"{resp.status} {await resp.text()}"
            except aiohttp.ClientConnectionError as exc:
                seen = repr(exc)
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never became healthy; last answer: {seen[:500]}")


async def test_running_it_as_written(tmp_path: Path) -> None:
    # Below the ephemeral range: the 1,000 clouds started first bind ephemeral ports, and
    # one took a port picked there (the proxy then found it taken; /healthz was a cloud's).
    port = str(free_port("127.0.0.1"))
    blocks = [b.replace("8080", port) for b in running_it_blocks()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["COLUMNS"] = "200"
    background: list[asyncio.subprocess.Process] = []
    results: list[tuple[str, str, str]] = []
    try:
        for block in blocks:
            if block.startswith("clouds:"):  # the user's clouds.yaml
                (tmp_path / "clouds.yaml").write_text(block + "\n")
                continue
            for line in block.splitlines():
                argv = shlex.split(line, comments=True)
                if argv[0] == "openstackoid":
                    argv = [sys.executable, "-m", "openstackoid.cli", *argv[1:]]
                    rest = tuple(argv[3:5])
                elif argv[0] == "openstack":
                    argv = [openstack_executable(), *argv[1:]]
                    rest = ()
                else:
                    raise AssertionError(f"not a command of this project: {line}")
                long_running = next((k for k in LONG_RUNNING if rest[: len(k)] == k), None)
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    cwd=tmp_path,
                    env=env,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                if long_running is not None:
                    background.append(process)
                    needle = LONG_RUNNING[long_running]
                    if needle:
                        assert process.stdout is not None
                        await wait_for_line(process.stdout, needle, seconds=120)
                    else:
                        await _wait_healthy(f"http://127.0.0.1:{port}", process)
                    continue
                out, err = await asyncio.wait_for(process.communicate(), timeout=300)
                assert process.returncode == 0, f"{line}\n{err.decode()}"
                results.append((line, out.decode(), err.decode()))
    finally:
        for process in reversed(background):
            await stop(process, seconds=60)
    cli = [(line, out, err) for line, out, err in results if line.startswith("openstack ")]
    assert "cirros1" in cli[0][1] and "ACTIVE" in cli[0][1]  # server create --wait
    assert "partial results" not in cli[1][2]  # the fan-out with every cloud up
    # The same fan-out with cloud-2 down says so on stderr.
    assert cli[3][0] == cli[1][0]
    assert "partial results" in cli[3][2] and "cloud 'cloud-2' is unreachable" in cli[3][2]
    assert "resolved by the proxy" in cli[4][1]  # scope check asked the proxy
