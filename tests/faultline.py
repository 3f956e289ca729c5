"""A TCP relay a test puts between a client and a real server, to cut, stall and restore the
link without touching the server (which other tests and helpers share).

    line = await Faultline.open("127.0.0.1", 5432)   # then connect to line.port
    line.cut()       # every relayed connection reset; new ones accepted and reset at once
    line.stall()     # connections stay open, no byte crosses (a partition without RST)
    line.restore()   # bytes flow again; held ones are delivered; new connections relayed
    await line.close()

Works for any TCP protocol (PostgreSQL, Redis, HTTP).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

CHUNK = 64 * 1024


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        for writer in (self.client, self.server):
            writer.transport.abort()  # RST, as a server that died or a middlebox reset


class Faultline:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode = "open"
        self.accepted = 0
        """Connections accepted so far, relayed or not."""
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._links: set[_Link] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @classmethod
    async def open(cls, target_host: str, target_port: int) -> Faultline:
        line = cls(target_host, target_port)
        line._server = await asyncio.start_server(line._accept, "127.0.0.1", 0)
        line.port = line._server.sockets[0].getsockname()[1]
        return line

    @property
    def open_links(self) -> int:
        """Relayed connections still open: a client that leaks connections shows here."""
        return len(self._links)

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Until no relayed connection is open (the client closed them all); TimeoutError
        if one stays open: a leak."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    def cut(self) -> None:
        self.mode = "cut"
        self._flowing.set()  # held pumps must run to notice their sockets are gone
        for link in list(self._links):
            link.abort()

    def stall(self) -> None:
        self.mode = "stall"
        self._flowing.clear()

    def restore(self) -> None:
        self.mode = "open"
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "cut":
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        link = _Link(writer, up_writer)
        self._links.add(link)
        self._idle.clear()
        try:
            async with asyncio.TaskGroup() as pumps:
                link.tasks = [
                    pumps.create_task(self._pump(reader, up_writer, link)),
                    pumps.create_task(self._pump(up_reader, writer, link)),
                ]
        finally:
            self._links.discard(link)
            link.abort()
            if not self._links:
                self._idle.set()

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, link: _Link
    ) -> None:
        try:
            while data := await source.read(CHUNK):
                await self._flowing.wait()
                if self.mode == "cut":
                    break
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            link.abort()  # one side gone: the other goes too, as over a real broken link

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._flowing.set()
        for link in list(self._links):
            link.abort()
            for task in link.tasks:
                task.cancel()
            for task in link.tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._server is not None:
            await self._server.wait_closed()
