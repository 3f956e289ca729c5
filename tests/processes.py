"""Helpers for tests that run `openstackoid` commands as processes and watch their output."""

import asyncio
import signal


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
