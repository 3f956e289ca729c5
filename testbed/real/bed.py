"""RealTestbed: real clouds from PyPI, Keystone and Glance in each, Nova in compute clouds."""

from __future__ import annotations

import asyncio
import functools
import grp
import os
import pwd
import secrets
import shutil
import tempfile
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import aiohttp
from rich.progress import Progress

from openstackoid.testbed.lifecycle import CloudsBed
from openstackoid.testbed.model import REGION
from openstackoid.testbed.real import config
from openstackoid.testbed.real.backing import CloudBacking, check_backing_services
from openstackoid.testbed.real.compute import STEPS as COMPUTE_STEPS
from openstackoid.testbed.real.compute import ComputeServices, Stoppable
from openstackoid.testbed.real.config import CloudDirs
from openstackoid.testbed.real.errors import RealTestbedError, RealVenvMissing
from openstackoid.testbed.real.keystone_admin import KeystoneAdmin
from openstackoid.testbed.real.model import ComputePorts, RealCloudInfo
from openstackoid.testbed.real.process import GunicornServer, free_port, run

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VENV = REPO_ROOT / ".venv-real"
KEYSTONE_APP = "keystone.wsgi.api:application"
GLANCE_APP = "glance.wsgi.api:application"
STEPS_PER_CLOUD = 5
COMPUTE_COMMANDS = (
    "nova-manage",
    "nova-conductor",
    "nova-scheduler",
    "nova-compute",
    "placement-manage",
    "neutron-db-manage",
)
TESTBED_AGENT = "openstackoid-testbed"
"""The User-Agent of the testbed's own calls (set-up as the cloud's operator), told apart
from the proxy's and the services' calls in the access logs."""
PARALLEL_CLOUDS = 2
"""Creating a cloud is CPU bound (imports, migrations copied, bcrypt): one per core."""


class RealVenv:
    """The separate venv (``make real-venv``) whose pins would clash with the main one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.gunicorn = self.bin("gunicorn")
        self.keystone_manage = self.bin("keystone-manage")
        self.glance_manage = self.bin("glance-manage")
        self.glance_paste_ini = root / "etc" / "glance" / "glance-api-paste.ini"
        self.nova_paste_ini = root / "etc" / "nova" / "api-paste.ini"
        self.neutron_paste_ini = root / "etc" / "neutron" / "api-paste.ini"

    def bin(self, name: str) -> Path:
        return self.root / "bin" / name

    def check(self, compute: bool = False) -> None:
        needed = [self.gunicorn, self.keystone_manage, self.glance_manage, self.glance_paste_ini]
        if compute:
            needed += [self.bin(name) for name in COMPUTE_COMMANDS]
            needed += [self.nova_paste_ini, self.neutron_paste_ini]
        missing = [str(path) for path in needed if not path.exists()]
        if missing:
            services = "Keystone/Glance/Nova/Placement/Neutron" if compute else "Keystone/Glance"
            raise RealVenvMissing(
                f"real {services} venv incomplete ({', '.join(missing)} missing): "
                "run `make real-venv`"
            )


class RealTestbed(CloudsBed):
    """Real OpenStack clouds, each with its own Keystone and Glance; compute clouds add Nova,
    Placement and Neutron.

    Same interface as the simulated ``Testbed``. Each cloud lives in its own directory (SQLite
    databases, fernet keys, image files), so a token of one cloud is invalid in every other.
    A compute cloud's Nova, Placement and Neutron keep their databases in MariaDB and talk
    over a RabbitMQ vhost, all named after the cloud and this run, dropped by ``stop``.

    ``clouds`` is a count (cloud-1..cloud-N) or names (``["cloud-1", "cloud-999"]``, the
    number after the dash being the cloud's index). ``image_service_url``, as for the
    simulated testbed, is where the compute clouds' Nova asks for images (``[glance]
    endpoint_override``, e.g. the proxy's ``/image``); None: the cloud's own catalog.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        clouds: int | Sequence[str] = 2,
        host: str = "127.0.0.1",
        venv: str | Path | None = None,
        compute: Collection[str] = (),
        image_service_url: str | None = None,
    ) -> None:
        names = cloud_names(clouds)
        unknown = sorted(set(compute) - set(names))
        if unknown:
            raise ValueError(f"compute clouds {unknown} are not among the clouds {names}")
        self.names = names
        self.compute = frozenset(compute)
        self.count = len(names)
        self.host = host
        self.image_service_url = image_service_url
        default = os.environ.get("OPENSTACKOID_REAL_VENV", str(DEFAULT_VENV))
        self.venv = RealVenv(Path(venv) if venv is not None else Path(default))
        self.run_id = secrets.token_hex(4)
        self._root: Path | None = None
        self._clouds: list[RealCloudInfo] = []
        self._servers: list[Stoppable] = []
        self._backings: list[CloudBacking] = []
        self._compute: dict[str, ComputeServices] = {}

    @property
    def clouds(self) -> list[RealCloudInfo]:
        return list(self._clouds)

    def cloud(self, name: str) -> RealCloudInfo:
        for info in self._clouds:
            if info.name == name:
                return info
        raise KeyError(name)

    def access_log(self, cloud: str, service: str) -> Path:
        """The JSON-lines access log of a cloud's service: keystone, glance, nova-api,
        placement or neutron."""
        return self._dirs(self.cloud(cloud).name).access_log(service)

    def log(self, cloud: str, service: str) -> Path:
        """A service's own log (e.g. ``nova-compute``)."""
        return self._dirs(self.cloud(cloud).name).log(service)

    async def start(self, progress: bool = False) -> None:
        self.venv.check(compute=bool(self.compute))
        if self.compute:
            await check_backing_services()
        self._root = Path(tempfile.mkdtemp(prefix="openstackoid-real-"))
        infos = [self._plan(name) for name in self.names]
        try:
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=60), headers={"User-Agent": TESTBED_AGENT}
            ) as http:
                with Progress(disable=not progress, transient=True) as bar:
                    total = 1 + STEPS_PER_CLOUD * self.count + COMPUTE_STEPS * len(self.compute)
                    kinds = f", {len(self.compute)} with Nova" if self.compute else ""
                    task = bar.add_task(f"creating {self.count} real clouds{kinds}", total=total)

                    def step() -> None:
                        bar.advance(task)

                    template = await self._migrate_template()
                    step()
                    limit = asyncio.Semaphore(PARALLEL_CLOUDS)

                    async def create(info: RealCloudInfo) -> None:
                        async with limit:
                            await self._create(info, template, http, step)

                    async with asyncio.TaskGroup() as group:
                        for info in infos:
                            group.create_task(create(info))
        except BaseException as exc:
            await self.stop()
            if isinstance(exc, ExceptionGroup):
                # Report the first cloud's failure plainly, not a TaskGroup traceback tree.
                first = exc.exceptions[0]
                while isinstance(first, ExceptionGroup):
                    first = first.exceptions[0]
                raise first from exc
            raise
        self._clouds = infos

    def _plan(self, name: str) -> RealCloudInfo:
        pick = functools.partial(free_port, self.host)
        ports = ComputePorts(pick(), pick(), pick()) if name in self.compute else None
        return RealCloudInfo(
            name, cloud_index(name), self.host, pick(), pick(), compute_ports=ports
        )

    def _dirs(self, name: str) -> CloudDirs:
        assert self._root is not None
        return CloudDirs(self._root / name)

    async def _migrate_template(self) -> CloudDirs:
        """Migrate empty databases once; every cloud starts from a copy (the slow part)."""
        dirs = self._dirs("template")
        dirs.make()
        dirs.keystone_conf.write_text(config.keystone_conf(dirs))
        dirs.glance_conf.write_text(
            config.glance_conf(dirs, "http://unused", self.venv.glance_paste_ini)
        )
        glance_argv = [str(self.venv.glance_manage), f"--config-file={dirs.glance_conf}", "db_sync"]
        async with asyncio.TaskGroup() as group:
            group.create_task(self._keystone_manage(dirs, "db_sync"))
            group.create_task(run(glance_argv, dirs.log("glance-manage")))
        return dirs

    async def _keystone_manage(self, dirs: CloudDirs, *args: str) -> None:
        argv = [str(self.venv.keystone_manage), f"--config-file={dirs.keystone_conf}", *args]
        await run(argv, dirs.log("keystone-manage"))

    async def _create(
        self,
        info: RealCloudInfo,
        template: CloudDirs,
        http: aiohttp.ClientSession,
        step: Callable[[], None],
    ) -> None:
        dirs = self._dirs(info.name)
        dirs.make()
        services: ComputeServices | None = None
        if info.is_compute:
            backing = CloudBacking(self.run_id, info.name)
            self._backings.append(backing)  # listed first: stop() drops what was made
            services = ComputeServices(
                self.venv, info, dirs, backing, self.image_service_url, self._servers.append
            )
            self._compute[info.name] = services
        async with asyncio.TaskGroup() as group:
            group.create_task(self._identity_and_image(info, dirs, template, http, step))
            if services is not None:
                group.create_task(services.prepare(step))
        admin = await KeystoneAdmin.login(http, info)
        await admin.add_service("image", "glance", info.endpoints["image"])
        await seed_image(http, admin, info)
        step()
        if services is not None:
            await services.register(admin)
            await services.start(http, admin, step)

    async def _identity_and_image(
        self,
        info: RealCloudInfo,
        dirs: CloudDirs,
        template: CloudDirs,
        http: aiohttp.ClientSession,
        step: Callable[[], None],
    ) -> None:
        shutil.copyfile(template.keystone_db, dirs.keystone_db)
        shutil.copyfile(template.glance_db, dirs.glance_db)
        dirs.keystone_conf.write_text(config.keystone_conf(dirs))
        dirs.glance_conf.write_text(
            config.glance_conf(dirs, info.identity_root, self.venv.glance_paste_ini)
        )
        owner = [f"--keystone-user={_user()}", f"--keystone-group={_group()}"]
        await self._keystone_manage(dirs, "fernet_setup", *owner)
        await self._keystone_manage(dirs, "credential_setup", *owner)
        step()
        await self._keystone_manage(
            dirs,
            "bootstrap",
            f"--bootstrap-username={info.username}",
            f"--bootstrap-password={info.password}",
            f"--bootstrap-project-name={info.project_name}",
            f"--bootstrap-region-id={REGION}",
            *(
                f"--bootstrap-{kind}-url={info.auth_url}"
                for kind in ("admin", "internal", "public")
            ),
        )
        step()
        keystone = self._server(KEYSTONE_APP, info.identity_port, "/identity", dirs, "keystone")
        glance = self._server(GLANCE_APP, info.image_port, "/image", dirs, "glance")
        keystone.env["OS_KEYSTONE_CONFIG_FILES"] = str(dirs.keystone_conf)
        glance.env["OS_GLANCE_CONFIG_DIR"] = str(dirs.glance_dir)
        for server in (keystone, glance):
            await server.start()
            self._servers.append(server)  # listed at once, so stop() ends it whatever happens
        await keystone.wait_ready(http)
        step()
        await glance.wait_ready(http)
        step()

    def _server(
        self, app: str, port: int, prefix: str, dirs: CloudDirs, service: str
    ) -> GunicornServer:
        return GunicornServer(
            self.venv.gunicorn,
            app,
            self.host,
            port,
            prefix,
            dirs.log(service),
            {},
            access_log=dirs.access_log(service),
        )

    async def use_image_service(self, url: str | None) -> None:
        """Point every compute cloud's Nova at another image service (None: its catalog's)
        and restart nova-api; e.g. to compare the proxy with the cloud's own Glance."""
        self.image_service_url = url
        async with aiohttp.ClientSession(headers={"User-Agent": TESTBED_AGENT}) as http:
            for services in self._compute.values():
                await services.use_image_service(http, url)

    async def stop(self) -> None:
        self._compute = {}
        servers, self._servers = self._servers, []
        await asyncio.gather(*(server.stop() for server in servers))
        backings, self._backings = self._backings, []
        failures = []
        for backing in backings:
            try:
                await backing.drop()
            except RealTestbedError as exc:  # the files and the other clouds go all the same
                failures.append(exc)
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
        self._clouds = []
        if failures:
            raise failures[0]


def cloud_names(clouds: int | Sequence[str]) -> list[str]:
    if isinstance(clouds, int):
        if clouds < 1:
            raise ValueError(f"clouds must be at least 1, not {clouds}")
        return [f"cloud-{index}" for index in range(1, clouds + 1)]
    names = list(clouds)
    if not names:
        raise ValueError("clouds must be at least 1, not 0")
    if len(set(names)) != len(names):
        raise ValueError(f"cloud names repeat: {names}")
    for name in names:
        cloud_index(name)
    return names


def cloud_index(name: str) -> int:
    """cloud-999 -> 999: the number labels and selectors know the cloud by."""
    prefix, _, number = name.rpartition("-")
    if prefix != "cloud" or not number.isdigit() or int(number) < 1:
        raise ValueError(f"a real cloud is named cloud-<n> (n >= 1), not {name!r}")
    return int(number)


async def seed_image(
    http: aiohttp.ClientSession, admin: KeystoneAdmin, info: RealCloudInfo
) -> None:
    """The `cirros` image every testbed cloud holds: a small raw disk, public, a stable id."""
    url = f"{info.endpoints['image']}/v2/images"
    image = {
        "id": info.image_id,
        "name": "cirros",
        "disk_format": "raw",
        "container_format": "bare",
        "visibility": "public",
    }
    async with http.post(url, json=image, headers=admin.headers) as response:
        if response.status != 201:
            raise RealTestbedError(
                f"{info.name}: image create refused ({response.status}): {await response.text()}"
            )
    data = f"cirros disk of {info.name}\n".encode() * 2048
    headers = {**admin.headers, "Content-Type": "application/octet-stream"}
    async with http.put(f"{url}/{info.image_id}/file", data=data, headers=headers) as response:
        if response.status != 204:
            raise RealTestbedError(
                f"{info.name}: image upload refused ({response.status}): {await response.text()}"
            )


def _user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def _group() -> str:
    return grp.getgrgid(os.getgid()).gr_name
