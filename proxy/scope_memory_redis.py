"""The scope remembered per token, shared by every process of a fleet through Redis.

Nova's call to Glance carries the user's token but no X-Scope, and a load balancer may hand
it to any worker of any proxy: the scope a token was last sent with must be readable by all.

- Redis holds `<prefix>scope:<sha256(token)>` -> scope text, expiring with the token.
- Each process keeps a front cache of what it wrote or read, so a token sent again with the
  same scope (nearly every request) costs no round trip. A write that changes a token's scope
  is published on `<prefix>scope-changes`; every other process drops its front entry for that
  digest, so its next request with the older scope writes again instead of skipping.
- The front cache is trusted only while the process is subscribed: after any disconnection it
  starts empty, as invalidations may have been missed meanwhile.
- Redis down or stalled: requests carrying X-Scope go on (nothing to write is waited for);
  scope-less ones fall back to the default scope, counted, with a warning at most every
  WARN_EVERY seconds; the client reconnects on its own.
- The supervisor ends once cancelled, and close() within CLOSE_WAIT plus two timeouts,
  whatever Redis does. redis-py sends every command through asyncio.wait_for, which on Python
  3.11 drops a cancellation arriving as the write completes (CPython gh-86296): the
  supervisor followed on for good, and a worker hung at shutdown. So the supervisor also
  stops once its task counts a cancellation request, and close() cancels again.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from openstackoid.proxy.identity import token_key
from openstackoid.proxy.scope_memory import DEFAULT_TTL
from openstackoid.registry.health import ComponentHealth, State

log = logging.getLogger("openstackoid.scope_memory")

WARN_EVERY = 10.0
"""Seconds between two warnings about scope-less requests falling back while Redis is down."""
CLOSE_WAIT = 2.0
"""Seconds close() waits for its tasks to end (they are cancelled again every RECANCEL_EVERY);
a task still running then is left, with a warning."""
RECANCEL_EVERY = 0.1
PREFIX_PARAM = "key_prefix"
"""Query parameter of the scope_memory URL naming the key prefix (several fleets, or test
runs, share one Redis)."""

# One round trip per change: the value, its life, and a notice to the other processes only
# when the value really changed (republishing an unchanged scope would make two processes
# behind a round-robin drop each other's entries on every request).
_WRITE = """
local old = redis.call('GET', KEYS[1])
if ARGV[3] == '1' or not old then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
end
if old and old ~= ARGV[1] then
  redis.call('PUBLISH', ARGV[4], ARGV[5])
end
return redis.call('PTTL', KEYS[1])
"""


@dataclass(frozen=True)
class MemoryState:
    """Whether the shared memory answers, since when it does not."""

    live: bool
    down_since: float | None
    """time.time() of the first failure (or of the start), None while live."""
    fallbacks: int
    """Scope-less requests that fell back to the default scope because Redis was down."""
    front: int


class _Known:
    __slots__ = ("digest", "scope", "deadline")

    def __init__(self, digest: str, scope: str, deadline: float) -> None:
        self.digest = digest
        self.scope = scope
        self.deadline = deadline


def split_url(url: str) -> tuple[str, str]:
    """The Redis URL without our key prefix parameter, and the prefix."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == PREFIX_PARAM), "openstackoid:")
    rest = urlencode([(k, v) for k, v in query if k != PREFIX_PARAM])
    return urlunsplit(parts._replace(query=rest)), prefix


class RedisScopeMemory:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 1.0,
        ping_every: float = 1.0,
        max_tokens: int = 100_000,
        on_fallback: Callable[[], None] | None = None,
    ) -> None:
        redis_url, prefix = split_url(url)
        self._client: aioredis.Redis = aioredis.Redis.from_url(
            redis_url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),  # one retry: a pooled socket Redis closed meanwhile
            max_connections=64,
        )
        # The notices get a client of their own that never reconnects by itself: a silent
        # reconnection would hide the notices lost meanwhile, and the front cache with them.
        self._listener: aioredis.Redis = aioredis.Redis.from_url(
            redis_url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._write = self._client.register_script(_WRITE)
        self._prefix = prefix
        self._channel = f"{prefix}scope-changes"
        self._origin = uuid.uuid4().hex
        self._timeout = timeout
        self._ping_every = ping_every
        self._max_tokens = max_tokens
        self._front: dict[int, _Known] = {}
        """hash(token) -> entry, for the steady path (no sha256): see scope_memory.py."""
        self._by_digest: dict[str, int] = {}
        self._inflight: dict[str, int] = {}
        self._contended: set[str] = set()
        """Digests another process changed while one of our reads or writes was on its way:
        its answer may be older than that change, so it is not cached."""
        self._epoch = 0
        """Bumped at each loss or recovery of the subscription: answers from an older epoch
        are not cached (invalidations may have been missed)."""
        self._live = False
        self._live_since = time.time()
        self._last_contact: float | None = None
        """time.time() Redis last answered; None: never."""
        self._down_since: float | None = time.time()
        self._fallbacks = 0
        self._on_fallback = on_fallback
        """Counts each fallback where every worker's counts are summed (/metrics)."""
        self._unlogged = 0
        self._last_warning = 0.0
        self._refusals = 0
        self._last_refusal_warning = 0.0
        self._supervisor: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._subscribed = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------------

    async def start(self, wait: float = 2.0) -> None:
        """Subscribe; wait at most `wait` seconds for it, so the first requests find the
        memory live, but serve anyway if Redis does not answer (scope-less requests fall
        back until it does)."""
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())
        try:
            # Not wait_for: on Python 3.11 it drops a cancellation (a SIGTERM during startup)
            # arriving as the subscription completes, and the startup would go on.
            async with asyncio.timeout(wait):
                await self._subscribed.wait()
        except TimeoutError:
            log.warning("scope memory: Redis not answering at start; retrying in background")

    async def close(self) -> None:
        """Stop following and close both clients: within CLOSE_WAIT plus two timeouts."""
        tasks = {*self._background, *([self._supervisor] if self._supervisor else [])}
        left = await _cancelled(tasks, CLOSE_WAIT)
        if left:
            log.warning("scope memory: %d task(s) ignored cancellation; left running", left)
        for client in (self._client, self._listener):
            try:
                async with asyncio.timeout(self._timeout):
                    await client.aclose()
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("scope memory: closing a Redis client failed: %r", exc)

    # -- the three operations ---------------------------------------------------------

    def note(self, token: str, scope: str) -> Awaitable[None] | None:
        """The token was sent with this scope. None when nothing is to be waited for (the
        scope is the one this process knows the fleet holds, or Redis is down); else the
        write, to await before forwarding: the cloud may call back through another process."""
        known = self._front.get(hash(token))
        if known is not None and known.scope == scope and known.deadline > time.monotonic():
            return None
        if not self._live:
            return None
        return self._store(token_key(token), hash(token), scope, DEFAULT_TTL, False)

    def remember(self, token: str, scope: str, deadline: float | None = None) -> None:
        """A token was issued under this scope: kept until `deadline` (monotonic). Written
        in the background; the client's next request carries the scope anyway."""
        if not self._live or len(self._background) >= 1024:
            return
        exact = deadline is not None
        ttl = (deadline - time.monotonic()) if deadline is not None else DEFAULT_TTL
        if ttl <= 0:
            return
        write = self._store(token_key(token), hash(token), scope, ttl, exact)
        task = asyncio.get_running_loop().create_task(write)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def recall(self, token: str) -> str | None:
        """The scope the token was last sent with by any process, None if unknown or if
        Redis cannot say (then counted and logged as a fallback)."""
        digest = token_key(token)
        if not self._live:
            self._fell_back()
            return None
        slot = self._by_digest.get(digest)
        known = self._front.get(slot) if slot is not None else None
        if known is not None and known.digest == digest and known.deadline > time.monotonic():
            return known.scope
        epoch = self._begin(digest)
        try:
            async with asyncio.timeout(self._timeout):
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.get(self._key(digest))
                    pipe.pttl(self._key(digest))
                    scope, ttl = await pipe.execute()
        except ResponseError as exc:
            self._refused(exc)
            return None
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            self._fell_back()
            return None
        finally:
            contended = self._end(digest)
        if scope is not None and ttl > 0 and not contended and epoch == self._epoch:
            self._cache(hash(token), _Known(digest, scope, time.monotonic() + ttl / 1000))
        return str(scope) if scope is not None else None

    def state(self) -> MemoryState:
        return MemoryState(self._live, self._down_since, self._fallbacks, len(self._front))

    def component_health(self) -> ComponentHealth:
        """For /healthz and /metrics (registry.health): live, stale once Redis was lost,
        waiting until it first answered."""
        if self._live:
            return ComponentHealth("live", self._live_since, time.time())
        reason = (
            f"Redis unreachable: scope-less requests use the default scope "
            f"({self._fallbacks} so far in this process)"
        )
        state: State = "stale" if self._last_contact is not None else "waiting"
        return ComponentHealth(state, self._down_since or time.time(), self._last_contact, reason)

    def __len__(self) -> int:
        return len(self._front)

    # -- writes and the front cache ---------------------------------------------------

    def _key(self, digest: str) -> str:
        return f"{self._prefix}scope:{digest}"

    async def _store(self, digest: str, slot: int, scope: str, ttl: float, exact: bool) -> None:
        epoch = self._begin(digest)
        try:
            async with asyncio.timeout(self._timeout):
                left = await self._write(
                    keys=[self._key(digest)],
                    args=[
                        scope,
                        max(1, int(ttl * 1000)),
                        "1" if exact else "0",
                        self._channel,
                        f"{self._origin} {digest}",
                    ],
                )
        except ResponseError as exc:
            self._refused(exc)  # Redis answers (full, say): the link is fine
            return
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return
        finally:
            contended = self._end(digest)
        if int(left) > 0 and not contended and epoch == self._epoch:
            self._cache(slot, _Known(digest, scope, time.monotonic() + int(left) / 1000))

    def _cache(self, slot: int, known: _Known) -> None:
        if len(self._front) >= self._max_tokens:
            self._front.clear()
            self._by_digest.clear()
        self._front[slot] = known
        self._by_digest[known.digest] = slot

    def _begin(self, digest: str) -> int:
        self._inflight[digest] = self._inflight.get(digest, 0) + 1
        return self._epoch

    def _end(self, digest: str) -> bool:
        """True if another process changed the digest's scope meanwhile."""
        left = self._inflight[digest] - 1
        contended = digest in self._contended
        if left:
            self._inflight[digest] = left
        else:
            del self._inflight[digest]
            self._contended.discard(digest)
        return contended

    def _invalidate(self, message: str) -> None:
        origin, _, digest = message.partition(" ")
        if origin == self._origin:
            return
        slot = self._by_digest.pop(digest, None)
        if slot is not None:
            self._front.pop(slot, None)
        if digest in self._inflight:
            self._contended.add(digest)

    # -- health -----------------------------------------------------------------------

    def _failed(self, exc: BaseException) -> None:
        if self._live:
            self._last_contact = time.time()
            log.warning("scope memory: Redis unreachable (%s); reconnecting", type(exc).__name__)
            self._live = False
            self._down_since = time.time()
            self._epoch += 1
            self._forget_all()

    def _refused(self, exc: ResponseError) -> None:
        """A call Redis answered with an error (maxmemory reached under `noeviction`, a
        key of another type): that token keeps no shared scope; nothing else changes."""
        self._refusals += 1
        now = time.monotonic()
        if now - self._last_refusal_warning >= WARN_EVERY:
            log.warning(
                "scope memory: Redis refused %d call(s) (%s)", self._refusals, str(exc)[:200]
            )
            self._last_refusal_warning = now
            self._refusals = 0

    def _recovered(self) -> None:
        self._forget_all()  # invalidations may have been missed while away
        self._epoch += 1
        if self._down_since is not None and self._fallbacks:
            log.warning("scope memory: Redis answers again")
        self._live = True
        self._live_since = self._last_contact = time.time()
        self._down_since = None
        self._subscribed.set()

    def _forget_all(self) -> None:
        self._front.clear()
        self._by_digest.clear()

    def _fell_back(self) -> None:
        self._fallbacks += 1
        if self._on_fallback is not None:
            self._on_fallback()
        self._unlogged += 1
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY:
            log.warning(
                "scope memory: Redis down since %s; %d scope-less request(s) used the default "
                "scope",
                time.strftime("%H:%M:%S", time.gmtime(self._down_since or time.time())),
                self._unlogged,
            )
            self._last_warning = now
            self._unlogged = 0

    async def _supervise(self) -> None:
        """Follow the change notices for as long as the process lives, reconnecting after
        any failure; a periodic heartbeat notices a Redis that stalls without closing."""
        while not _cancel_lost():
            try:
                await self._follow()
            except (RedisError, OSError, TimeoutError) as exc:
                self._failed(exc)
            if not _cancel_lost():
                await asyncio.sleep(self._timeout)

    async def _follow(self) -> None:
        pubsub = self._listener.pubsub(ignore_subscribe_messages=True)
        loop = asyncio.get_running_loop()
        heartbeat = f"{self._origin} -"
        try:
            async with asyncio.timeout(self._timeout):
                await pubsub.subscribe(self._channel)
                await self._client.ping()
            self._recovered()
            check_at = loop.time() + self._ping_every
            echo_due: float | None = None
            while not _cancel_lost():
                message = await pubsub.get_message(timeout=self._ping_every)
                if message is not None and message.get("type") == "message":
                    if message["data"] == heartbeat:
                        echo_due = None
                    else:
                        self._invalidate(str(message["data"]))
                if loop.time() < check_at:
                    continue
                if echo_due is not None and loop.time() > echo_due:
                    raise TimeoutError("our own heartbeat never came back")
                # A heartbeat published through the commands' connection and heard on the
                # notices' one: either may stall without closing.
                async with asyncio.timeout(self._timeout):
                    await self._client.publish(self._channel, heartbeat)
                if echo_due is None:
                    echo_due = loop.time() + self._ping_every + self._timeout
                if not self._live:  # a request's call failed, yet Redis answers again
                    self._recovered()
                check_at = loop.time() + self._ping_every
        finally:
            await asyncio.shield(pubsub.aclose())  # type: ignore[no-untyped-call]


def _cancel_lost() -> bool:
    """Whether the running task was cancelled and a wait_for lost it on the way (see the
    module docstring): Task.cancelling() still counts the request. (asyncio.timeout takes
    back its own requests, lost or not.)"""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _cancelled(tasks: set[asyncio.Task[None]], within: float) -> int:
    """Cancel `tasks` and wait at most `within` seconds for them to end, cancelling again
    every RECANCEL_EVERY those that lost a cancellation. How many are still running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    pending = tasks
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        wait = min(RECANCEL_EVERY, deadline - loop.time())
        done, pending = await asyncio.wait(pending, timeout=wait)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.warning("scope memory: a task failed: %r", task.exception())
    return len(pending)
