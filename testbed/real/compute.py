"""Nova, Placement and Neutron of one compute cloud, brought up in the order they need.

Databases first (Nova's cells, Placement, Neutron), then the cloud's Keystone learns the
service users and endpoints, then the WSGI services, then nova-conductor and nova-scheduler
(they check Placement's credentials at start), then nova-compute with the fake driver; the
cloud is ready once Placement lists the compute host's resources and the host is mapped to
its cell. Nothing in the services is patched: only their config files say how they meet.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from openstackoid.testbed.model import FLAVORS
from openstackoid.testbed.real.backing import CloudBacking
from openstackoid.testbed.real.compute_config import (
    SERVICE_PASSWORD,
    SERVICE_USERS,
    ComputeSettings,
    ml2_conf,
    neutron_conf,
    nova_conf,
    placement_conf,
)
from openstackoid.testbed.real.config import CloudDirs
from openstackoid.testbed.real.errors import RealTestbedError
from openstackoid.testbed.real.keystone_admin import KeystoneAdmin
from openstackoid.testbed.real.model import RealCloudInfo
from openstackoid.testbed.real.process import Daemon, GunicornServer, run, tail

NOVA_API_APP = "nova.wsgi.osapi_compute:application"
PLACEMENT_APP = "placement.wsgi.api:application"
NEUTRON_APP = "neutron.wsgi.api:application"
STEPS = 5
READY_TIMEOUT = 240.0


class Stoppable(Protocol):
    async def stop(self, grace: float = 10.0) -> None: ...


class ComputeVenv(Protocol):
    def bin(self, name: str) -> Path: ...

    @property
    def gunicorn(self) -> Path: ...

    @property
    def nova_paste_ini(self) -> Path: ...

    @property
    def neutron_paste_ini(self) -> Path: ...


class ComputeServices:
    """The compute half of one cloud; every process it starts is handed to ``keep`` at once,
    so the testbed stops it whatever fails later."""

    def __init__(
        self,
        venv: ComputeVenv,
        info: RealCloudInfo,
        dirs: CloudDirs,
        backing: CloudBacking,
        image_service_url: str | None,
        keep: Callable[[Stoppable], None],
    ) -> None:
        assert info.compute_ports is not None
        self.venv = venv
        self.info = info
        self.ports = info.compute_ports
        self.dirs = dirs
        self.backing = backing
        self.keep = keep
        self.settings = ComputeSettings(
            dirs=dirs,
            backing=backing,
            identity_url=info.identity_root,
            host=f"{info.name}-compute",
            image_service_url=image_service_url,
            nova_paste_ini=venv.nova_paste_ini,
            neutron_paste_ini=venv.neutron_paste_ini,
        )
        self.nova_conf = dirs.nova_dir / "nova.conf"
        self.placement_conf = dirs.placement_dir / "placement.conf"
        self.neutron_conf = dirs.neutron_dir / "neutron.conf"
        self.ml2_conf = dirs.neutron_dir / "ml2_conf.ini"

    async def prepare(self, step: Callable[[], None]) -> None:
        """Databases, vhost and schemas: needs no Keystone, so it runs beside its start."""
        self.dirs.make_compute()
        self.nova_conf.write_text(nova_conf(self.settings))
        self.placement_conf.write_text(placement_conf(self.settings))
        self.neutron_conf.write_text(neutron_conf(self.settings))
        self.ml2_conf.write_text(ml2_conf())
        await self.backing.create()
        step()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._nova_schemas())
            group.create_task(
                self._run("placement-manage", f"--config-file={self.placement_conf}", "db", "sync")
            )
            group.create_task(
                self._run(
                    "neutron-db-manage",
                    f"--config-file={self.neutron_conf}",
                    f"--config-file={self.ml2_conf}",
                    "upgrade",
                    "heads",
                )
            )
        step()

    async def _nova_schemas(self) -> None:
        await self._nova_manage("api_db", "sync")
        cell0 = self.backing.database_url("nova_cell0")
        await self._nova_manage("cell_v2", "map_cell0", f"--database_connection={cell0}")
        await self._nova_manage("cell_v2", "create_cell", "--name=cell1")
        await self._nova_manage("db", "sync")

    async def _nova_manage(self, *args: str) -> None:
        await self._run("nova-manage", f"--config-file={self.nova_conf}", *args)

    async def _run(self, command: str, *args: str) -> None:
        await run([str(self.venv.bin(command)), *args], self.dirs.log(command))

    async def register(self, admin: KeystoneAdmin) -> None:
        """The service users and the catalog entries, as an operator adds them."""
        await admin.add_service_users(SERVICE_USERS, SERVICE_PASSWORD)
        endpoints = self.info.endpoints
        await admin.add_service("compute", "nova", endpoints["compute"])
        await admin.add_service("placement", "placement", endpoints["placement"])
        await admin.add_service("network", "neutron", endpoints["network"])

    async def start(
        self, http: aiohttp.ClientSession, admin: KeystoneAdmin, step: Callable[[], None]
    ) -> None:
        placement = self._wsgi(
            PLACEMENT_APP,
            self.ports.placement,
            "/placement",
            "placement",
            {"OS_PLACEMENT_CONFIG_DIR": str(self.dirs.placement_dir)},
        )
        nova_api = self._wsgi(
            NOVA_API_APP,
            self.ports.compute,
            "/compute",
            "nova-api",
            # nova-api loads its paste pipeline from the first file, then reads nova.conf.
            {
                "OS_NOVA_CONFIG_DIR": str(self.dirs.nova_dir),
                "OS_NOVA_CONFIG_FILES": f"{self.venv.nova_paste_ini};{self.nova_conf.name}",
            },
        )
        neutron = self._wsgi(
            NEUTRON_APP,
            self.ports.network,
            "/network",
            "neutron",
            {
                "OS_NEUTRON_CONFIG_DIR": str(self.dirs.neutron_dir),
                "OS_NEUTRON_CONFIG_FILES": f"{self.neutron_conf.name};{self.ml2_conf.name}",
            },
        )
        self.nova_api = nova_api
        for server in (placement, nova_api, neutron):
            await server.start()
            self.keep(server)
        await placement.wait_ready(http, READY_TIMEOUT)
        # Conductor and scheduler check Placement's credentials as they start.
        conductor = self._daemon("nova-conductor")
        scheduler = self._daemon("nova-scheduler")
        for daemon in (conductor, scheduler):
            await daemon.start()
            self.keep(daemon)
        await nova_api.wait_ready(http, READY_TIMEOUT)
        await neutron.wait_ready(http, READY_TIMEOUT)
        step()
        compute = self._daemon("nova-compute")
        await compute.start()
        self.keep(compute)
        daemons = (conductor, scheduler, compute)
        await self._wait_for_services(daemons)
        await self._wait_for_resource_provider(http, admin, daemons)
        await self._nova_manage("cell_v2", "discover_hosts", "--verbose")
        step()
        await self._add_flavors(http, admin)
        step()

    async def use_image_service(self, http: aiohttp.ClientSession, url: str | None) -> None:
        """Point nova-api at another image service, as an operator does: edit nova.conf,
        restart the API. Only nova-api asks Glance here (the fake driver downloads no image)."""
        self.settings = dataclasses.replace(self.settings, image_service_url=url)
        self.nova_conf.write_text(nova_conf(self.settings))
        await self.nova_api.stop()
        await self.nova_api.start()
        await self.nova_api.wait_ready(http, READY_TIMEOUT)

    def _wsgi(
        self, app: str, port: int, prefix: str, name: str, env: dict[str, str]
    ) -> GunicornServer:
        return GunicornServer(
            self.venv.gunicorn,
            app,
            self.info.host,
            port,
            prefix,
            self.dirs.log(name),
            env,
            access_log=self.dirs.access_log(name),
        )

    def _daemon(self, command: str) -> Daemon:
        argv = [str(self.venv.bin(command)), f"--config-file={self.nova_conf}"]
        return Daemon(argv, self.dirs.log(command))

    async def _wait_for_services(self, daemons: tuple[Daemon, ...]) -> None:
        """Until each daemon recorded itself in the cell's services table (it consumes RPC)."""
        wanted = {daemon.name for daemon in daemons}
        database = self.backing.database("nova_cell1")
        query = f"SELECT `binary` FROM `{database}`.services WHERE deleted = 0"
        await self._poll(
            lambda: self._services_up(query, wanted), daemons, "nova services to report"
        )

    async def _services_up(self, query: str, wanted: set[str]) -> bool:
        return wanted <= set((await self.backing.sql(query)).split())

    async def _wait_for_resource_provider(
        self, http: aiohttp.ClientSession, admin: KeystoneAdmin, daemons: tuple[Daemon, ...]
    ) -> None:
        url = f"{self.info.endpoints['placement']}/resource_providers"

        async def listed() -> bool:
            async with http.get(url, headers=admin.headers) as response:
                if response.status != 200:
                    return False
                body: dict[str, Any] = await response.json()
                return bool(body.get("resource_providers"))

        await self._poll(listed, daemons, "nova-compute's resources in Placement")

    async def _poll(
        self,
        ready: Callable[[], Awaitable[bool]],
        daemons: tuple[Daemon, ...],
        what: str,
    ) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not await ready():
            for daemon in daemons:
                daemon.check_alive()
            if time.monotonic() > deadline:
                logs = "\n".join(f"{d.name}:\n{tail(d.log, 10)}" for d in daemons)
                raise RealTestbedError(
                    f"{self.info.name}: timed out waiting for {what}; ends of logs:\n{logs}"
                )
            await asyncio.sleep(0.5)

    async def _add_flavors(self, http: aiohttp.ClientSession, admin: KeystoneAdmin) -> None:
        url = f"{self.info.endpoints['compute']}/flavors"
        for flavor_id, name, ram, disk, vcpus in FLAVORS:
            flavor = {"id": flavor_id, "name": name, "ram": ram, "disk": disk, "vcpus": vcpus}
            async with http.post(url, json={"flavor": flavor}, headers=admin.headers) as response:
                if response.status != 200:
                    raise RealTestbedError(
                        f"{self.info.name}: flavor {name} refused ({response.status}): "
                        f"{await response.text()}"
                    )
