"""pytest fixtures: `testbed` (3 clouds) and `make_testbed` (any arguments)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from openstackoid.testbed.bed import Testbed
from openstackoid.testbed.cli_runner import run_openstack

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


@pytest.fixture
def openstack_cli() -> Callable[..., Awaitable[tuple[int, str, str]]]:
    return run_openstack
