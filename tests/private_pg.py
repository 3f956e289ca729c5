"""A PostgreSQL server of a test's own (initdb into a temporary directory, its own port),
for faults the shared server must never suffer: a stop, a restart."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.pg import no_postgres

USER = "postgres"  # initdb and postgres refuse to run as root


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if not found:
        no_postgres("no PostgreSQL server binaries under /usr/lib/postgresql")
    return Path(found[-1]).parent


def _version(path: str) -> int:
    return int(Path(path).parent.parent.name) if Path(path).parent.parent.name.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivatePostgres:
    def __init__(self, root: Path, bindir: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.bindir = bindir
        self.port = 0

    @property
    def dsn(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    async def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", USER, "--"] if os.geteuid() == 0 else []
        process = await asyncio.create_subprocess_exec(
            *prefix,
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {output.decode()[-2000:]}")

    async def init(self) -> None:
        await self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", USER,
            "--no-sync",
        )  # fmt: skip

    async def start(self) -> None:
        """Start on the same port as before, or on a free one the first time."""
        for _ in range(5):
            port = self.port or _free_port()
            options = f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            try:
                await self._run(
                    str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
                    "-l", str(self.root / "log"), "-w", "-t", "30", "start",
                )  # fmt: skip
            except RuntimeError:
                if self.port:
                    raise
                continue  # the port was taken meanwhile: another one
            self.port = port
            return
        raise RuntimeError("the private PostgreSQL did not start")

    async def stop(self, mode: str = "fast") -> None:
        await self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"
        )  # fmt: skip


@asynccontextmanager
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    if shutil.which("runuser") is None and os.geteuid() == 0:
        no_postgres("runuser is needed to run a private PostgreSQL as root")
    root = Path(tempfile.mkdtemp(prefix="openstackoid-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, USER, USER)
    server = PrivatePostgres(root, _bindir())
    try:
        await server.init()
        await server.start()
        yield server
    finally:
        try:
            await server.stop("immediate")
        except RuntimeError:
            pass  # never started, or already stopped
        shutil.rmtree(root, ignore_errors=True)
