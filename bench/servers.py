"""The servers a bench measures, each spawned as its own process: a testbed of simulated
clouds (faults included) and the proxy as `openstackoid proxy` serves it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import resource
import signal
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import aiohttp

from proxy import ProxyConfig
from testbed import admin_auth_body

_SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class Fleet:
    """What a testbed process serves."""

    clouds: int = 1
    shared_identity: bool = False
    faults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per cloud, testbed.Faults fields; `flapping: True` toggles an outage all along."""
    flap_seconds: float = 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_fd_limit() -> None:
    """10,000 clouds: 10,000 listening sockets, and a pooled connection to each."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, 65536), max(hard, 65536)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _run_testbed(fleet: Fleet, clouds_yaml: str, ready: str) -> None:
    raise_fd_limit()
    from testbed import Faults, Testbed

    async def main() -> None:
        bed = Testbed(clouds=fleet.clouds, shared_identity=fleet.shared_identity)
        await bed.start()
        bed.write_clouds_yaml(clouds_yaml)
        flapping = [name for name, f in fleet.faults.items() if f.get("flapping")]
        for name, faults in fleet.faults.items():
            settings = {k: v for k, v in faults.items() if k != "flapping"}
            if settings:
                await bed.set_faults(name, Faults(**settings))
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        Path(ready).write_text("up")
        down = False
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), fleet.flap_seconds)
            except TimeoutError:
                down = not down
                for name in flapping:
                    await bed.set_faults(name, Faults(outage=down))
        await bed.stop()  # removes the clouds' files (uploaded images)

    asyncio.run(main())


async def start_testbed(
    fleet: Fleet, workdir: Path, name: str = "clouds"
) -> tuple[BaseProcess, str]:
    """The running testbed process and the clouds.yaml it wrote."""
    clouds_yaml = str(workdir / f"{name}.yaml")
    ready = workdir / f"{name}.ready"
    process = _SPAWN.Process(target=_run_testbed, args=(fleet, clouds_yaml, str(ready)))
    process.daemon = True
    process.start()
    for _ in range(2400):
        if ready.exists():
            return process, clouds_yaml
        if not process.is_alive():
            break
        await asyncio.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the testbed of {fleet.clouds} clouds did not start")


def _run_proxy(config: ProxyConfig, quiet: bool) -> None:
    raise_fd_limit()
    from proxy.cli import serve

    if quiet:  # a faulty cloud's every 5xx is a warning: thousands would bury the progress
        logging.getLogger("openstackoid").setLevel(logging.ERROR)
    serve(config)


async def start_proxy(config: ProxyConfig, quiet: bool = False) -> tuple[BaseProcess, str]:
    """`openstackoid proxy` with this config on a free port: its process and base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = dataclasses.replace(config, host="127.0.0.1", port=port, public_url=url)
    process = _SPAWN.Process(target=_run_proxy, args=(config, quiet), daemon=True)
    process.start()
    await wait_up(f"{url}/healthz")
    return process, url


async def wait_up(url: str, seconds: float = 90.0) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(int(seconds / 0.05)):
            try:
                async with session.get(url) as resp:
                    await resp.read()
                    return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def stop(*processes: BaseProcess) -> None:
    """SIGTERM first (a testbed removes its files), then kill what lingers."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(10)
        if process.is_alive():
            process.kill()


def add_fleet_rules(clouds_yaml: str) -> str:
    """Mapping rules for the proxy in a simulated fleet's clouds.yaml (the default is deny):
    a member of any cloud acts at every other as the `fleet` application credential
    registered there. The simulated Keystone takes an application credential with its
    users' password, and its tokens carry admin too, hence allow_admin."""
    import yaml

    path = Path(clouds_yaml)
    document = yaml.safe_load(path.read_text())
    document["openstackoid"] = {
        "target_credentials": [
            {
                "cloud": name,
                "name": "fleet",
                "application_credential_id": f"fleet-{name}",
                "application_credential_secret": "secret",
            }
            for name in document["clouds"]
        ],
        "mapping_rules": [
            {
                "name": "fleet-members",
                "match": {"issuer": "*", "roles": "member"},
                "targets": "*",
                "credential": "fleet",
                "allow_admin": True,
            }
        ],
    }
    path.write_text(yaml.safe_dump(document))
    return clouds_yaml


def auth_url(clouds_yaml: str, cloud: str = "cloud-1") -> str:
    from registry import load_clouds_yaml

    return next(c.auth_url for c in load_clouds_yaml(clouds_yaml) if c.name == cloud)


async def issue_token(keystone: str) -> str:
    """A token from a (testbed) Keystone for the admin user."""
    body = admin_auth_body()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{keystone}/auth/tokens", json=body) as resp:
            return resp.headers["X-Subject-Token"]
