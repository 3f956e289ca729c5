"""RealTestbed: N real clouds, each a Keystone and a Glance from PyPI under gunicorn."""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from rich.progress import Progress

from testbed.lifecycle import CloudsBed
from testbed.model import DOMAIN_NAME, REGION
from testbed.real import config
from testbed.real.config import CloudDirs
from testbed.real.errors import RealTestbedError, RealVenvMissing
from testbed.real.model import RealCloudInfo
from testbed.real.process import GunicornServer, free_port, run

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VENV = REPO_ROOT / ".venv-real"
KEYSTONE_APP = "keystone.wsgi.api:application"
GLANCE_APP = "glance.wsgi.api:application"
STEPS_PER_CLOUD = 5
PARALLEL_CLOUDS = 2
"""Creating a cloud is CPU bound (imports, migrations copied, bcrypt): one per core."""


class RealVenv:
    """The separate venv (``make real-venv``) whose pins would clash with the main one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.gunicorn = root / "bin" / "gunicorn"
        self.keystone_manage = root / "bin" / "keystone-manage"
        self.glance_manage = root / "bin" / "glance-manage"
        self.glance_paste_ini = root / "etc" / "glance" / "glance-api-paste.ini"

    def check(self) -> None:
        needed = (self.gunicorn, self.keystone_manage, self.glance_manage, self.glance_paste_ini)
        missing = [str(path) for path in needed if not path.exists()]
        if missing:
            raise RealVenvMissing(
                f"real Keystone/Glance venv incomplete ({', '.join(missing)} missing): "
                "run `make real-venv`"
            )


class RealTestbed(CloudsBed):
    """Real OpenStack clouds named cloud-1..cloud-N, each with its own Keystone and Glance.

    Same interface as the simulated ``Testbed``. Each cloud lives in its own directory (SQLite
    databases, fernet keys, image files), so a token of one cloud is invalid in every other.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self, clouds: int = 2, host: str = "127.0.0.1", venv: str | Path | None = None
    ) -> None:
        if clouds < 1:
            raise ValueError(f"clouds must be at least 1, not {clouds}")
        self.count = clouds
        self.host = host
        default = os.environ.get("OPENSTACKOID_REAL_VENV", str(DEFAULT_VENV))
        self.venv = RealVenv(Path(venv) if venv is not None else Path(default))
        self._root: Path | None = None
        self._clouds: list[RealCloudInfo] = []
        self._servers: list[GunicornServer] = []

    @property
    def clouds(self) -> list[RealCloudInfo]:
        return list(self._clouds)

    def cloud(self, name: str) -> RealCloudInfo:
        for info in self._clouds:
            if info.name == name:
                return info
        raise KeyError(name)

    async def start(self, progress: bool = False) -> None:
        self.venv.check()
        self._root = Path(tempfile.mkdtemp(prefix="openstackoid-real-"))
        infos = [self._plan(index) for index in range(1, self.count + 1)]
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
                with Progress(disable=not progress, transient=True) as bar:
                    total = 1 + STEPS_PER_CLOUD * self.count
                    task = bar.add_task(f"creating {self.count} real clouds", total=total)

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

    def _plan(self, index: int) -> RealCloudInfo:
        return RealCloudInfo(
            f"cloud-{index}", index, self.host, free_port(self.host), free_port(self.host)
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
        await register_image_service(http, info)
        step()

    def _server(
        self, app: str, port: int, prefix: str, dirs: CloudDirs, service: str
    ) -> GunicornServer:
        return GunicornServer(
            self.venv.gunicorn, app, self.host, port, prefix, dirs.log(service), {}
        )

    async def stop(self) -> None:
        servers, self._servers = self._servers, []
        await asyncio.gather(*(server.stop() for server in servers))
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
        self._clouds = []


async def register_image_service(http: aiohttp.ClientSession, info: RealCloudInfo) -> None:
    """Add Glance to the cloud's Keystone catalog, as an operator would after bootstrap."""
    token = await _admin_token(http, info)
    headers = {"X-Auth-Token": token}
    service = {"service": {"type": "image", "name": "glance", "enabled": True}}
    body = await _post(http, f"{info.auth_url}/services", service, headers)
    endpoint = {
        "endpoint": {
            "service_id": body["service"]["id"],
            "interface": "public",
            "region_id": REGION,
            "url": info.endpoints["image"],
            "enabled": True,
        }
    }
    await _post(http, f"{info.auth_url}/endpoints", endpoint, headers)


async def _admin_token(http: aiohttp.ClientSession, info: RealCloudInfo) -> str:
    domain = {"name": DOMAIN_NAME}
    auth = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": info.username, "password": info.password, "domain": domain}
                },
            },
            "scope": {"project": {"name": info.project_name, "domain": domain}},
        }
    }
    async with http.post(f"{info.auth_url}/auth/tokens", json=auth) as response:
        if response.status != 201:
            raise RealTestbedError(
                f"{info.name}: admin token refused ({response.status}): {await response.text()}"
            )
        return response.headers["X-Subject-Token"]


async def _post(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    async with http.post(url, json=body, headers=headers) as response:
        if response.status != 201:
            raise RealTestbedError(
                f"POST {url} failed ({response.status}): {await response.text()}"
            )
        result: dict[str, Any] = await response.json()
        return result


def _user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def _group() -> str:
    return grp.getgrgid(os.getgid()).gr_name
