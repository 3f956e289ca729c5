"""The shared servers a compute cloud needs: MariaDB databases and a RabbitMQ vhost.

Every database and vhost is named after the test run and the cloud, so runs sharing the
servers never meet, and `drop` leaves the servers as they were found.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass
from urllib.parse import quote

from openstackoid.testbed.real.errors import BackingServiceDown, RealTestbedError

MARIADB_HOST = "127.0.0.1"
MARIADB_PORT = 3306
RABBITMQ_HOST = "127.0.0.1"
RABBITMQ_PORT = 5672
MARIADB_START = "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
RABBITMQ_START = "rabbitmq-server -detached"
RABBITMQCTL_ATTEMPTS = 5
RABBITMQCTL_NODE_FAILED = 78
RABBITMQCTL_NO_SUCH_VHOST = 65
COMPUTE_DATABASES = ("nova_api", "nova_cell0", "nova_cell1", "placement", "neutron")
_SAFE_NAME = re.compile(r"[^a-z0-9]+")


async def answers(host: str, port: int, timeout: float = 3.0) -> bool:
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def check_backing_services() -> None:
    """Fail with how to start them, before anything is created, when a server is down."""
    down = []
    if not await answers(MARIADB_HOST, MARIADB_PORT):
        down.append(f"MariaDB at {MARIADB_HOST}:{MARIADB_PORT} (start it: {MARIADB_START})")
    if not await answers(RABBITMQ_HOST, RABBITMQ_PORT):
        down.append(f"RabbitMQ at {RABBITMQ_HOST}:{RABBITMQ_PORT} (start it: {RABBITMQ_START})")
    if down:
        raise BackingServiceDown(
            "a compute cloud needs MariaDB and RabbitMQ; not answering: " + "; ".join(down)
        )


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackingServiceDown(f"{name} is not installed (it comes with the server packages)")
    return found


async def _command(*argv: str) -> str:
    code, text = await _attempt(argv)
    if code != 0:
        raise RealTestbedError(f"{' '.join(argv[:2])} ... exited with {code}: {text}")
    return text


async def _attempt(argv: tuple[str, ...]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def _rabbitmqctl(*args: str, absent_ok: bool = False) -> None:
    """rabbitmqctl, tried again on a failure of its own Erlang node (it picks a node name
    per call, and two calls at once from other test runs can clash: exit code 78).
    ``absent_ok``: a vhost already gone (exit code 65) is what a delete wanted."""
    argv = (_tool("rabbitmqctl"), *args)
    for attempt in range(RABBITMQCTL_ATTEMPTS):
        code, text = await _attempt(argv)
        if code == 0 or (absent_ok and code == RABBITMQCTL_NO_SUCH_VHOST):
            return
        if code != RABBITMQCTL_NODE_FAILED or attempt == RABBITMQCTL_ATTEMPTS - 1:
            raise RealTestbedError(f"rabbitmqctl {' '.join(args)} exited with {code}: {text}")
        await asyncio.sleep(0.5 * (attempt + 1))


async def vhosts() -> list[str]:
    return (await _command(_tool("rabbitmqctl"), "list_vhosts", "--quiet", "name")).split()[1:]


@dataclass(frozen=True)
class CloudBacking:
    """One compute cloud's databases and vhost, named ``<run>_<cloud>_*``."""

    run: str
    cloud: str

    @property
    def prefix(self) -> str:
        return f"osk_{self.run}_{_SAFE_NAME.sub('', self.cloud.lower())}"

    def database(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    def database_url(self, name: str) -> str:
        return f"mysql+pymysql://root@{MARIADB_HOST}:{MARIADB_PORT}/{self.database(name)}"

    @property
    def vhost(self) -> str:
        return f"openstackoid-{self.run}-{self.cloud}"

    @property
    def transport_url(self) -> str:
        vhost = quote(self.vhost, safe="")
        return f"rabbit://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}/{vhost}"

    async def sql(self, statement: str) -> str:
        """Run SQL with the mysql client as root; its tab-separated output, no headers."""
        return await _command(
            _tool("mysql"),
            f"--host={MARIADB_HOST}",
            f"--port={MARIADB_PORT}",
            "--user=root",
            "--batch",
            "--skip-column-names",
            f"--execute={statement}",
        )

    async def create(self) -> None:
        statements = " ".join(
            f"CREATE DATABASE `{self.database(name)}` CHARACTER SET utf8mb4;"
            for name in COMPUTE_DATABASES
        )
        await self.sql(statements)
        await _rabbitmqctl("add_vhost", self.vhost)
        await _rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")

    async def drop(self) -> None:
        """Drop whatever of the cloud's databases and vhost exists; errors are the caller's."""
        statements = " ".join(
            f"DROP DATABASE IF EXISTS `{self.database(name)}`;" for name in COMPUTE_DATABASES
        )
        await self.sql(statements)
        await _rabbitmqctl("delete_vhost", self.vhost, absent_ok=True)
