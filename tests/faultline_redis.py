"""A TCP relay a test puts between the proxy and the shared Redis, to cut, stall and restore
the link without touching the server other tests use.

    line = await RedisFaultline.open("127.0.0.1", 6379)   # the proxy connects to line.port
    line.cut()       # relayed connections reset; new ones reset as soon as accepted
    line.stall()     # connections stay open but no byte crosses (a partition without RST)
    line.restore()   # bytes flow again, new connections are relayed
    await line.close()

Same interface as the PostgreSQL relay of the `edge` branch (tests/faultline.py); once both
are merged, one of them can go.
"""

from __future__ import annotations

import asyncio
import contextlib

CHUNK = 64 * 1024


class RedisFaultline:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.mode = "open"
        self.port = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @classmethod
    async def open(cls, host: str, port: int) -> RedisFaultline:
        line = cls(host, port)
        line._server = await asyncio.start_server(line._accept, "127.0.0.1", 0)
        line.port = line._server.sockets[0].getsockname()[1]
        return line

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cut(self) -> None:
        self.mode = "cut"
        self._flowing.set()
        for writer in list(self._writers):
            writer.transport.abort()

    def stall(self) -> None:
        self.mode = "stall"
        self._flowing.clear()

    def restore(self) -> None:
        self.mode = "open"
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "cut":
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._writers.update(pair)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            async with asyncio.TaskGroup() as pumps:
                pumps.create_task(self._pump(reader, up_writer, pair))
                pumps.create_task(self._pump(up_reader, writer, pair))
        finally:
            self._tasks.discard(task)
            for side in pair:
                self._writers.discard(side)
                side.transport.abort()

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        try:
            while data := await source.read(CHUNK):
                await self._flowing.wait()
                if self.mode == "cut":
                    break
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            for side in pair:  # one side gone: the other too, as over a broken link
                side.transport.abort()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()  # every relayed connection reset: the pumps end by themselves
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.wait_closed()
