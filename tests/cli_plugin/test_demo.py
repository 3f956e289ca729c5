"""`make demo` leaves nothing behind: its work directory holds every cloud's password."""

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.processes import stop, wait_for_line

pytestmark = pytest.mark.e2e


async def _demo(tmp: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "openstackoid.cli", "demo", "--clouds", "5",
        env={**os.environ, "TMPDIR": str(tmp), "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


def _left(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir())


async def _work_directory_while_up(process: asyncio.subprocess.Process, tmp: Path) -> Path:
    """The demo's work directory, once the proxy is up: in `tmp`, holding the passwords."""
    assert process.stdout is not None
    await wait_for_line(process.stdout, "proxy at", seconds=120)
    work = [p for p in tmp.iterdir() if p.name.startswith("openstackoid-demo-")]
    assert len(work) == 1 and (work[0] / "fleet.yaml").exists()
    return work[0]


async def test_demo_passes_and_removes_its_work_directory(tmp_path: Path) -> None:
    process = await _demo(tmp_path)
    try:
        await _work_directory_while_up(process, tmp_path)
        out, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    finally:
        await stop(process)  # a demo this test gave up on cleans up and ends all the same
    assert process.returncode == 0, out.decode()
    assert "demo passed" in out.decode()
    assert _left(tmp_path) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_an_interrupted_demo_removes_its_work_directory(
    tmp_path: Path, signum: signal.Signals
) -> None:
    process = await _demo(tmp_path)
    try:
        await _work_directory_while_up(process, tmp_path)
        process.send_signal(signum)
        await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        await stop(process)
    assert process.returncode == 130
    assert not any(name.startswith("openstackoid-") for name in _left(tmp_path))
