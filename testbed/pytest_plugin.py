"""pytest fixtures: `testbed` (3 clouds) and `make_testbed` (any arguments)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from testbed.bed import Testbed

TestbedFactory = Callable[..., Awaitable[Testbed]]


@pytest_asyncio.fixture
async def make_testbed() -> AsyncIterator[TestbedFactory]:
    started: list[Testbed] = []

    async def factory(**kwargs: Any) -> Testbed:
        bed = Testbed(**kwargs)
        await bed.start()
        started.append(bed)
        return bed

    yield factory
    for bed in started:
        await bed.stop()


@pytest_asyncio.fixture
async def testbed(make_testbed: TestbedFactory) -> Testbed:
    return await make_testbed(clouds=3)


async def run_openstack(
    *args: str, clouds_yaml: Path, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run the real `openstack` CLI without blocking the loop that serves the clouds."""
    full_env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(clouds_yaml), **(env or {})}
    process = await asyncio.create_subprocess_exec(
        "openstack",
        *args,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
def openstack_cli() -> Callable[..., Awaitable[tuple[int, str, str]]]:
    return run_openstack
