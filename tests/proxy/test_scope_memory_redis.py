"""The scope memory shared through the real Redis: what one process notes, another recalls;
the newest scope wins; Redis cut or stalled costs scope-less requests their scope, nothing
else, and the memory comes back by itself."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from openstackoid.proxy.identity import token_key
from openstackoid.proxy.scope_memory_redis import CLOSE_WAIT, RedisScopeMemory
from tests.faultline import Faultline
from tests.federation import FederationFactory
from tests.redis_prefix import REDIS, private_prefix

S1 = "{keystone: cloud-1; glance: cloud-3}"
S2 = "{keystone: cloud-1; glance: cloud-2}"

MemoryFactory = Callable[..., Awaitable[RedisScopeMemory]]


@pytest_asyncio.fixture
async def prefix() -> AsyncIterator[str]:
    async with private_prefix() as name:
        yield name


@pytest_asyncio.fixture
async def make_memory(prefix: str) -> AsyncIterator[MemoryFactory]:
    started: list[RedisScopeMemory] = []

    async def factory(url: str = REDIS, **kwargs: Any) -> RedisScopeMemory:
        memory = RedisScopeMemory(f"{url}?key_prefix={prefix}", **kwargs)
        await memory.start()
        started.append(memory)
        return memory

    yield factory
    for memory in started:
        await memory.close()


async def _relay() -> Faultline:
    """A TCP relay to the shared Redis the test can cut, stall and restore."""
    return await Faultline.open("127.0.0.1", 6379)


def _url(line: Faultline) -> str:
    return f"redis://127.0.0.1:{line.port}/0"


async def _eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition never met"
        await asyncio.sleep(0.01)


async def _note(memory: RedisScopeMemory, token: str, scope: str) -> bool:
    """Note as the handler does; True if it had to wait for a write."""
    pending = memory.note(token, scope)
    if pending is None:
        return False
    await pending
    return True


async def test_a_scope_noted_by_one_process_is_recalled_by_another(
    make_memory: MemoryFactory,
) -> None:
    a, b = await make_memory(), await make_memory()
    assert await _note(a, "token-1", S1)
    assert await b.recall("token-1") == S1
    assert await b.recall("token-2") is None


async def test_the_newest_scope_wins_across_processes(make_memory: MemoryFactory) -> None:
    """A's front cache says token-1 is at S1; B moves it to S2: A must drop that belief, or
    the user going back to S1 through A would be skipped and Redis would keep S2."""
    a, b = await make_memory(), await make_memory()
    assert await _note(a, "token-1", S1)
    assert not await _note(a, "token-1", S1)  # the steady path: nothing written
    assert await _note(b, "token-1", S2)
    await _eventually(lambda: len(a) == 0)  # B's change notice reached A
    assert await _note(a, "token-1", S1)
    await _eventually(lambda: len(b) == 0)  # and A's reached B
    assert await b.recall("token-1") == S1
    assert await a.recall("token-1") == S1


async def test_processes_writing_the_same_scope_do_not_evict_each_other(
    make_memory: MemoryFactory,
) -> None:
    """Behind a round-robin both processes see the same token and scope: writing an
    unchanged scope must not notify, or each would drop the other's entry every time."""
    a, b = await make_memory(), await make_memory()
    assert await _note(a, "token-1", S1)
    assert await _note(b, "token-1", S1)
    # A marker whose change A must see: notices arrive in order, so once A has dropped the
    # marker, any notice about token-1 would have arrived too.
    assert await _note(a, "marker", S1)
    assert await _note(b, "marker", S2)
    await _eventually(lambda: len(a) == 1)
    assert not await _note(a, "token-1", S1)
    assert not await _note(b, "token-1", S1)


async def test_the_steady_path_makes_no_round_trip(make_memory: MemoryFactory) -> None:
    """With the link to Redis stalled, any round trip would hang: the same scope again
    for a known token returns at once, and a known token is recalled from the front."""
    line = await _relay()
    try:
        memory = await make_memory(_url(line), timeout=5.0)
        assert await _note(memory, "token-1", S1)
        line.stall()
        async with asyncio.timeout(1):
            for _ in range(1000):
                assert not await _note(memory, "token-1", S1)
            assert await memory.recall("token-1") == S1
    finally:
        await line.close()


async def test_entries_expire_with_the_token_and_keys_are_digests(
    make_memory: MemoryFactory, prefix: str
) -> None:
    memory = await make_memory()
    token = f"gAAAA-{uuid.uuid4().hex}"
    memory.remember(token, S1, time.monotonic() + 0.5)
    client = aioredis.Redis.from_url(REDIS, decode_responses=True)
    try:
        keys: list[str] = []

        async def written() -> bool:
            keys[:] = [k async for k in client.scan_iter(match=f"{prefix}scope:*")]
            return bool(keys)

        deadline = time.monotonic() + 10
        while not await written():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert keys == [f"{prefix}scope:{token_key(token)}"]
        assert token not in keys[0] and await client.get(keys[0]) == S1
        assert 0 < await client.pttl(keys[0]) <= 500
        other = await make_memory()
        assert await other.recall(token) == S1
        while await client.exists(keys[0]):  # Redis expires it with the token
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert await other.recall(token) is None
        assert await memory.recall(token) is None  # the front entry expired too
    finally:
        await client.aclose()


async def test_a_write_redis_refuses_costs_that_token_only(
    make_memory: MemoryFactory, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis answering an error (here a key of another type; in production maxmemory under
    noeviction) is no lost link: the memory stays live for every other token."""
    client = aioredis.Redis.from_url(REDIS)
    try:
        await client.hset(f"{prefix}scope:{token_key('token-x')}", "not", "a string")
        memory = await make_memory()
        with caplog.at_level(logging.WARNING, "openstackoid.scope_memory"):
            assert await _note(memory, "token-x", S1)
            assert await memory.recall("token-x") is None
        assert memory.state().live
        assert any("refused" in r.getMessage() for r in caplog.records)
        assert await _note(memory, "token-1", S1)
        assert await memory.recall("token-1") == S1
    finally:
        await client.aclose()


async def test_prefixes_keep_fleets_apart(make_memory: MemoryFactory) -> None:
    memory = await make_memory()
    assert await _note(memory, "token-1", S1)
    stranger = RedisScopeMemory(f"{REDIS}?key_prefix=other-{uuid.uuid4().hex}:")
    await stranger.start()
    try:
        assert await stranger.recall("token-1") is None
    finally:
        await stranger.close()


async def test_redis_cut_then_back(
    make_memory: MemoryFactory, caplog: pytest.LogCaptureFixture
) -> None:
    line = await _relay()
    try:
        counted: list[int] = []
        memory = await make_memory(
            _url(line), timeout=0.3, ping_every=0.2, on_fallback=lambda: counted.append(1)
        )
        assert memory.state().live
        assert await _note(memory, "token-1", S1)
        line.cut()
        with caplog.at_level(logging.WARNING, "openstackoid.scope_memory"):
            # Scope-less requests: no scope, counted, one warning however many.
            await _eventually(lambda: not memory.state().live)
            for _ in range(50):
                assert await memory.recall("token-1") is None
            # Requests carrying X-Scope: nothing to wait for.
            assert memory.note("token-2", S2) is None
        state = memory.state()
        assert state.fallbacks == 50 == len(counted) and state.down_since is not None
        health = memory.component_health()
        assert health.state == "stale" and health.reason and "default scope" in health.reason
        warnings = [r for r in caplog.records if "used the default scope" in r.getMessage()]
        assert len(warnings) == 1
        line.restore()
        await _eventually(lambda: memory.state().live)
        assert memory.component_health().state == "live"
        assert await memory.recall("token-1") == S1
        assert await _note(memory, "token-2", S2)
    finally:
        await line.close()


async def test_redis_stalled_costs_at_most_the_timeout(make_memory: MemoryFactory) -> None:
    line = await _relay()
    try:
        memory = await make_memory(_url(line), timeout=0.3, ping_every=0.2)
        line.stall()
        async with asyncio.timeout(3):  # 0.3 s bound per call, with room for a busy machine
            assert await memory.recall("token-1") is None
        assert not memory.state().live
        assert memory.note("token-1", S1) is None  # down: the request goes on at once
        line.restore()
        await _eventually(lambda: memory.state().live)
        assert await _note(memory, "token-1", S1)
        assert await memory.recall("token-1") == S1
    finally:
        await line.close()


async def test_a_proxy_whose_redis_is_cut_serves_on(
    make_federation: FederationFactory, prefix: str
) -> None:
    """Through the proxy: X-Scope requests go on; a scope-less one gets the default scope,
    is counted in /metrics, and /healthz says since when; all comes back with Redis."""
    line = await _relay()
    try:
        fed = await make_federation(
            clouds=3,
            default_scope="{*: cloud-1}",
            scope_memory=f"{_url(line)}?key_prefix={prefix}",
        )
        session, bed = fed.session, fed.bed

        async def health() -> dict[str, Any]:
            async with session.get(f"{fed.url}/healthz") as resp:
                body: dict[str, Any] = (await resp.json())["components"]["scope_memory"]
                return body

        async def served_by(headers: dict[str, str]) -> str:
            bed.clear_requests()
            async with session.get(f"{fed.url}/image/v2/images", headers=headers) as resp:
                assert resp.status == 200, await resp.text()
            return next(
                c.name
                for c in bed.clouds
                if any(r.path.startswith("/image") for r in bed.requests(c.name))
            )

        headers = await fed.scoped(S1)
        scope_less = {"X-Auth-Token": headers["X-Auth-Token"]}
        assert await served_by(headers) == "cloud-3"
        assert await served_by(scope_less) == "cloud-3"
        line.cut()
        while (await health())["state"] != "stale":
            await asyncio.sleep(0.05)
        assert await served_by(headers) == "cloud-3"
        assert await served_by(scope_less) == "cloud-1"  # the default scope
        async with session.get(f"{fed.url}/metrics") as resp:
            assert "openstackoid_scope_memory_fallbacks_total 1.0" in await resp.text()
        line.restore()
        while (await health())["state"] != "live":
            await asyncio.sleep(0.05)
        assert await served_by(scope_less) == "cloud-3"
    finally:
        await line.close()


async def test_redis_absent_at_start_is_no_crash(prefix: str) -> None:
    with socket_closed() as port:
        memory = RedisScopeMemory(f"redis://127.0.0.1:{port}/0?key_prefix={prefix}", timeout=0.2)
        await memory.start(wait=0.5)
        try:
            assert not memory.state().live
            assert memory.component_health().state == "waiting"
            assert memory.note("token-1", S1) is None
            assert await memory.recall("token-1") is None
        finally:
            await memory.close()


async def test_a_close_always_ends_the_following(prefix: str) -> None:
    """redis-py writes through asyncio.wait_for, which on Python 3.11 drops a cancellation
    landing as a write completes: the heartbeat's every ping_every, here 10 ms. A close at
    random moments hit that about once in five tries; the supervisor then followed on for
    good and close() (a worker's shutdown) never returned. Every close must end."""
    url = f"{REDIS}?key_prefix={prefix}"
    for _ in range(40):
        memory = RedisScopeMemory(url, ping_every=0.01)
        await memory.start()
        await asyncio.sleep(random.uniform(0, 0.05))
        closing = asyncio.get_running_loop().create_task(memory.close())
        done, _ = await asyncio.wait({closing}, timeout=CLOSE_WAIT + 2)
        if not done:
            await _stop(memory)
            pytest.fail("close() did not end: the supervisor lost its cancellation")


async def test_one_cancellation_ends_the_following(prefix: str) -> None:
    """A SIGTERM during a worker's startup skips cleanup: run_app then cancels every task
    once (its _cancel_tasks), the supervisor's too, and waits for them all. One lost on its
    way (as above) held that wait for good: the supervisor must end on it all the same."""
    url = f"{REDIS}?key_prefix={prefix}"
    for _ in range(40):
        memory = RedisScopeMemory(url, ping_every=0.01)
        before = asyncio.all_tasks()
        await memory.start()
        following = asyncio.all_tasks() - before
        await asyncio.sleep(random.uniform(0, 0.05))
        for task in following:
            task.cancel()
        _, pending = await asyncio.wait(following, timeout=3)
        await memory.close()
        assert not pending, "a supervisor cancelled once followed on"


async def _stop(memory: RedisScopeMemory) -> None:
    """End what a stuck close() left running, so the failure stays this test's."""
    supervisor = memory._supervisor
    while supervisor is not None and not supervisor.done():
        supervisor.cancel()
        await asyncio.sleep(0.05)


class _CancelWhenSet(asyncio.Event):
    """Cancels `task` `steps` loop steps after being set: a SIGTERM landing as the
    subscription completes."""

    def __init__(self, task: asyncio.Task[None] | None, steps: int) -> None:
        super().__init__()
        self.task, self.steps, self.accepted = task, steps, False

    def set(self) -> None:
        super().set()
        self._later(self.steps)

    def _later(self, steps: int) -> None:
        loop = asyncio.get_running_loop()
        if steps:
            loop.call_soon(self._later, steps - 1)
        elif self.task is not None:
            self.accepted = self.task.cancel()  # False: the start was over already


@pytest.mark.parametrize("steps", [0, 1, 2, 3])
async def test_a_start_cancelled_as_it_subscribes_is_cancelled(prefix: str, steps: int) -> None:
    """asyncio.wait_for on Python 3.11 returned normally when cancelled just as the
    subscription completed: a worker stopped during its startup went on serving."""
    memory = RedisScopeMemory(f"{REDIS}?key_prefix={prefix}")
    subscribed = _CancelWhenSet(None, steps)
    memory._subscribed = subscribed
    starting = asyncio.get_running_loop().create_task(memory.start(wait=5))
    subscribed.task = starting
    try:
        outcome = await asyncio.gather(starting, return_exceptions=True)
        if subscribed.accepted:
            assert isinstance(outcome[0], asyncio.CancelledError), "the cancellation was lost"
    finally:
        await memory.close()


async def test_a_close_with_redis_stalled_ends_within_its_bound(
    make_memory: MemoryFactory,
) -> None:
    line = await _relay()
    try:
        memory = await make_memory(_url(line), timeout=0.3, ping_every=0.2)
        line.stall()
        started = time.monotonic()
        await memory.close()
        assert time.monotonic() - started < CLOSE_WAIT + 2 * 0.3 + 1  # room for a busy machine
    finally:
        await line.close()


def socket_closed() -> _ClosedPort:
    return _ClosedPort()


class _ClosedPort:
    """A port nobody listens on (bound, never listening, for the test's duration)."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        return int(self._sock.getsockname()[1])

    def __exit__(self, *_: object) -> None:
        self._sock.close()
