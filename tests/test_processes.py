"""The tests' process helpers: no test leaves a process behind, even when it fails."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from tests.processes import stop, wait_for_line

IGNORES_SIGTERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(3600)\n"
)


async def _python(code: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    await wait_for_line(process.stdout, "ready")
    return process


async def test_a_process_that_ends_on_sigterm_gives_its_code() -> None:
    process = await _python("import time\nprint('ready', flush=True)\ntime.sleep(3600)\n")
    assert await stop(process) == -signal.SIGTERM


async def test_a_process_deaf_to_sigterm_is_killed_and_the_test_told() -> None:
    process = await _python(IGNORES_SIGTERM)
    with pytest.raises(AssertionError, match=f"pid {process.pid} did not end within 0.5 s"):
        await stop(process, seconds=0.5)
    assert process.returncode == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)  # reaped: gone from the process table


async def test_a_process_that_filled_its_pipe_still_ends() -> None:
    """Its output is drained while it ends: a writer blocked on a full pipe would not."""
    code = (
        "import signal, sys\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))\n"
        "print('ready', flush=True)\n"
        "sys.stdout.write('x' * (1 << 20)); sys.stdout.flush()\n"
        "signal.pause()\n"
    )
    process = await _python(code)
    assert await stop(process) == 3
