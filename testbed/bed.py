"""Testbed: N simulated clouds in one process, one listening port per cloud."""

from __future__ import annotations

import asyncio
import resource
import secrets
import shutil
import socket
import ssl
import tempfile
from datetime import timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from rich.progress import Progress

from openstackoid.testbed.app import Fleet, make_app
from openstackoid.testbed.directory import Directory
from openstackoid.testbed.lifecycle import CloudsBed
from openstackoid.testbed.model import (
    CloudState,
    Faults,
    RecordedRequest,
    SimCloudInfo,
    cloud_secret,
)
from openstackoid.testbed.ports import BACKLOG, PortPicker, listen, stop_listening
from openstackoid.testbed.tokens import TokenBook


def raise_open_files_limit() -> int:
    """Each cloud is a listening socket plus its connections: lift the soft fd limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


class Testbed(CloudsBed):
    """Simulated OpenStack clouds (Keystone, Glance, Nova, Neutron) named cloud-1..cloud-N.

    One aiohttp application serves them all through one socket per cloud: each cloud is a
    distinct upstream host for connection pools, and an outage closes that socket for real.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        clouds: int = 3,
        host: str = "127.0.0.1",
        shared_identity: bool = False,
        image_service_url: str | None = None,
        port_base: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        first: int = 1,
        signing_key: bytes | None = None,
    ) -> None:
        """`first` numbers the clouds from cloud-<first>, and `signing_key` makes tokens
        verifiable by other testbed processes holding it: one fleet of clouds spread over
        several processes (each process has its own open-files limit)."""
        self.count = clouds
        self.ssl_context = ssl_context
        """Serve every cloud over HTTPS with this server context."""
        self.first = first
        self.host = host
        self.port_base = port_base
        self._seed = secrets.token_bytes(16)
        """Makes each run's passwords its own: no test can hard-code one."""
        self._data_dir = Path(tempfile.mkdtemp(prefix="openstackoid-testbed-"))
        self.fleet = Fleet(
            tokens=TokenBook(shared_identity, signing_key),
            data_dir=self._data_dir,
            image_service_url=image_service_url,
        )
        self._by_name: dict[str, CloudState] = {}
        self._sites: dict[str, web.SockSite] = {}
        self._sockets: dict[str, socket.socket] = {}
        self._down: dict[str, socket.socket] = {}
        """Per cloud in an outage, its socket: still bound (the port stays the cloud's), no
        longer listening (connections are refused, as on a dead host)."""
        self._runner: web.AppRunner | None = None

    @property
    def image_service_url(self) -> str | None:
        return self.fleet.image_service_url

    @image_service_url.setter
    def image_service_url(self, url: str | None) -> None:
        # Settable after start: the proxy's URL is often known only once it listens.
        self.fleet.image_service_url = url

    @property
    def network_service_url(self) -> str | None:
        """Where Nova checks networks ([neutron] endpoint_override); None: its own cloud's."""
        return self.fleet.network_service_url

    @network_service_url.setter
    def network_service_url(self, url: str | None) -> None:
        self.fleet.network_service_url = url

    @property
    def clouds(self) -> list[SimCloudInfo]:
        return [state.info for state in self._by_name.values()]

    def cloud(self, name: str) -> SimCloudInfo:
        return self._by_name[name].info

    async def start(self, progress: bool = False) -> None:
        raise_open_files_limit()
        self.fleet.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30),
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=8, keepalive_timeout=10),
        )
        self._runner = web.AppRunner(make_app(self.fleet), access_log=None, handle_signals=False)
        await self._runner.setup()
        picker = PortPicker(self.host)
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task(f"starting {self.count} clouds", total=self.count)
            for index in range(self.first, self.first + self.count):
                if self.port_base:
                    sock = listen(self.host, self.port_base + index - self.first)
                else:
                    sock = picker.listen()
                name = f"cloud-{index}"
                info = SimCloudInfo(
                    name,
                    index,
                    self.host,
                    sock.getsockname()[1],
                    password=cloud_secret(self._seed, name, "admin"),
                    service_password=cloud_secret(self._seed, name, "nova"),
                    scheme="https" if self.ssl_context else "http",
                )
                state = CloudState(info)
                self._by_name[info.name] = state
                self.fleet.by_port[info.port] = state
                await self._open_site(info.name, sock)
                bar.advance(task)

    async def _open_site(self, name: str, sock: socket.socket) -> None:
        assert self._runner is not None
        site = web.SockSite(self._runner, sock, ssl_context=self.ssl_context)
        await site.start()
        self._sites[name] = site
        self._sockets[name] = sock

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._sites.clear()
        self._sockets.clear()
        for sock in self._down.values():
            sock.close()
        self._down.clear()
        if self.fleet.session is not None:
            await self.fleet.session.close()
            self.fleet.session = None
        shutil.rmtree(self._data_dir, ignore_errors=True)

    def keystone(self, name: str) -> Directory:
        """A cloud's Keystone data, to add users, projects, roles and application credentials
        directly (the same as through its API)."""
        return self._by_name[name].directory

    def revoke_tokens(self, name: str, user_id: str) -> int:
        """Revoke every token of a user at a cloud, as Keystone does when it is disabled."""
        return self.fleet.tokens.revoke_where(name, user_id)

    def set_token_lifetime(self, name: str, seconds: float) -> None:
        """How long tokens a cloud issues from now on live (Keystone's [token] expiration)."""
        self.fleet.tokens.lifetimes[name] = timedelta(seconds=seconds)

    def hold(self, name: str) -> None:
        """Hold every request to a cloud before it is answered, until release()."""
        self._by_name[name].gate = asyncio.Event()

    def release(self, name: str) -> None:
        state = self._by_name[name]
        if state.gate is not None:
            state.gate.set()
            state.gate = None

    def held(self, name: str) -> int:
        """How many of a cloud's requests are held now: a test waits for this, not a time."""
        return self._by_name[name].held

    def faults(self, name: str) -> Faults:
        return self._by_name[name].faults

    async def set_faults(self, name: str, faults: Faults) -> None:
        """Change a cloud's faults now; an outage stops its port listening (connections are
        refused) and its end listens again on the same socket."""
        state = self._by_name[name]
        was_down = state.faults.outage
        state.faults = faults
        if faults.outage and not was_down:
            site = self._sites.pop(name, None)
            if site is not None:
                self._down[name] = self._sockets[name].dup()  # closing the site closes its own
                await site.stop()
                stop_listening(self._down[name])
        elif was_down and not faults.outage:
            sock = self._down.pop(name, None)
            if sock is not None:
                sock.listen(BACKLOG)
                await self._open_site(name, sock)

    def open_connections(self) -> int:
        """Client connections the clouds hold open now, all clouds together: a leak check."""
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    def requests(self, name: str) -> list[RecordedRequest]:
        """The requests a cloud received, oldest first (bounded)."""
        return list(self._by_name[name].requests)

    def clear_requests(self) -> None:
        for state in self._by_name.values():
            state.requests.clear()
