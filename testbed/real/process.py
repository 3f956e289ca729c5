"""Subprocesses of the real services: one-shot ``*-manage`` commands and gunicorn servers."""

from __future__ import annotations

import asyncio
import ctypes
import os
import random
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp

from openstackoid.testbed.ports import ephemeral_range
from openstackoid.testbed.real.errors import RealTestbedError

PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
PORTS_FLOOR = 10000
PORTS_BELOW_EPHEMERAL = 12000
PORT_ATTEMPTS = 1000
_HANDED_OUT: set[int] = set()
WSGI_ENTRY_DIR = Path(__file__).resolve().parent
"""gunicorn imports ``_wsgi_entry`` from here (standard library only: it runs in .venv-real)."""


def free_port(host: str) -> int:
    """A port nobody listens on now, below the kernel's ephemeral range.

    A compute cloud's services bind their ports a minute or two after they are chosen
    (Nova's schemas come first). Outgoing connections take their local ports from the
    ephemeral range, and one took a port picked there before gunicorn bound it: below the
    range only another listener can. One process never hands a port out twice.
    """
    low, _ = ephemeral_range()
    span = (max(PORTS_FLOOR, low - PORTS_BELOW_EPHEMERAL), low - 1)
    if span[0] > span[1]:
        span = ephemeral_range()  # a range starting near 1024 leaves nothing below it
    for _ in range(PORT_ATTEMPTS):
        port = random.randint(*span)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RealTestbedError(f"no free port in {span[0]}-{span[1]} after {PORT_ATTEMPTS} tries")


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


async def run(argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> None:
    """Run a command to its end, its output appended to ``log``; fail with the log's tail."""
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        try:
            code = await proc.wait()
        except asyncio.CancelledError:
            # Another cloud failed: leave no half-done migration running behind us.
            proc.kill()
            await proc.wait()
            raise
    if code != 0:
        command = next((arg for arg in argv[1:] if not arg.startswith("-")), "")
        name = f"{Path(argv[0]).name} {command}".strip()
        raise RealTestbedError(f"{name} exited with {code}; end of its log:\n{tail(log)}")


class _Supervised:
    """A long-running process in its own session, its output appended to ``log``."""

    def __init__(self, name: str, log: Path) -> None:
        self.name = name
        self.log = log
        self._proc: asyncio.subprocess.Process | None = None

    async def _spawn(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        """``env`` None: this process's environment."""
        with self.log.open("ab") as out:
            # Own session: stop() signals the process and its children as one process group.
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def check_alive(self) -> None:
        if self._proc is None or self._proc.returncode is not None:
            raise RealTestbedError(
                f"{self.name} stopped while starting; end of its log:\n{tail(self.log)}"
            )

    async def stop(self, grace: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            _signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()


class GunicornServer(_Supervised):
    """One WSGI application under gunicorn, one worker, served below ``prefix``.

    gunicorn strips the ``SCRIPT_NAME`` environment variable from request paths, so the
    services answer at ``/identity`` and ``/image`` as in the architecture's URL layout.
    """

    def __init__(
        self,
        gunicorn: Path,
        app: str,
        host: str,
        port: int,
        prefix: str,
        log: Path,
        env: Mapping[str, str],
        access_log: Path | None = None,
    ) -> None:
        super().__init__(app, log)
        self.gunicorn = gunicorn
        self.app = app
        self.host = host
        self.port = port
        self.prefix = prefix
        self.env = dict(env)
        self.access_log = access_log

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.prefix}"

    async def start(self) -> None:
        argv = [
            str(self.gunicorn),
            "--no-control-socket",
            "--workers=1",
            "--threads=4",
            "--timeout=300",
            f"--bind={self.host}:{self.port}",
            f"--pythonpath={WSGI_ENTRY_DIR}",
            f"--chdir={self.log.parent}",
            f"--error-logfile={self.log}",
            "_wsgi_entry:application",
        ]
        env = {
            **os.environ,
            **self.env,
            "OPENSTACKOID_WSGI_APP": self.app,
            "SCRIPT_NAME": self.prefix,
        }
        if self.access_log is not None:
            env["OPENSTACKOID_ACCESS_LOG"] = str(self.access_log)
        await self._spawn(argv, env)  # gunicorn's master and its worker: one process group

    async def wait_ready(self, session: aiohttp.ClientSession, timeout: float = 180.0) -> None:
        """Poll the service root until it answers; fail early if gunicorn died."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                async with session.get(self.url + "/") as response:
                    if response.status < 500:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RealTestbedError(
                    f"{self.app} not answering at {self.url} after "
                    f"{timeout:.0f} s; end of its log:\n{tail(self.log)}"
                )
            await asyncio.sleep(0.25)


class Daemon(_Supervised):
    """A long-running service process that listens on no port (nova-conductor, -scheduler,
    -compute): it talks over RabbitMQ and records itself in the database."""

    def __init__(self, argv: Sequence[str], log: Path) -> None:
        super().__init__(Path(argv[0]).name, log)
        self.argv = list(argv)

    async def start(self) -> None:
        await self._spawn(self.argv)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM gunicorn if we are killed before stop() runs."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
