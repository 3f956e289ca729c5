"""Helpers for tests that run `openstackoid` commands as processes and watch their output."""

import asyncio


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
