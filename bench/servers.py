"""The servers a bench measures, each spawned as its own process: a testbed of simulated
clouds (faults included) and the proxy as `openstackoid proxy` serves it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import resource
import secrets
import signal
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from openstackoid.proxy import ProxyConfig

_SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class Fleet:
    """What a testbed process serves."""

    clouds: int = 1
    shared_identity: bool = False
    faults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per cloud, testbed.Faults fields; `flapping: True` toggles an outage all along."""
    flap_seconds: float = 0.5
    fleet_rules: bool = False
    """Register the fleet's mapping rules (add_fleet_rules) in its clouds.yaml while every
    cloud is healthy, before the faults: a cloud down cannot make a credential."""
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    """Shared by the testbed processes of one fleet: a token of one is valid at all."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


FDS_PER_CLOUD = 4
"""A testbed cloud's listening socket plus the connections proxies pool to it (up to ~1.5
per proxy, two proxies at once in bench_scale)."""
FDS_SPARE = 2048


def raise_fd_limit() -> int:
    """Lift the open-files limit as far as allowed (the soft one up to the hard one; the hard
    one too where the process may); returns the soft limit obtained."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for target in (max(hard, 1 << 17), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))
            return target
        except (ValueError, OSError):
            continue
    return soft


def clouds_per_testbed() -> int:
    """How many clouds one testbed process can serve within the open-files limit it gets:
    past it, accept() fails with "Too many open files" (EMFILE), so a fleet is spread over
    several processes instead."""
    return max(1, (raise_fd_limit() - FDS_SPARE) // FDS_PER_CLOUD)


def _log_stderr(path: str) -> None:
    """Send this (spawned) process's stderr to a file the bench reads after the run."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(descriptor, 2)
    os.close(descriptor)


LOGS: dict[int, Path] = {}
"""pid -> stderr file of each process started here."""
EMFILE = "Too many open files"


def descriptor_exhaustion(processes: Sequence[BaseProcess]) -> dict[str, int]:
    """For each process that ran out of file descriptors, how many times it said so."""
    found: dict[str, int] = {}
    for process in processes:
        path = LOGS.get(process.pid or -1)
        if path is None or not path.exists():
            continue
        with path.open(errors="replace") as log:
            count = sum(line.count(EMFILE) for line in log)
        if count:
            found[path.stem] = count
    return found


def _run_testbed(
    fleet: Fleet, clouds_yaml: str, ready: str, first: int, count: int, log: str
) -> None:
    _log_stderr(log)
    raise_fd_limit()
    from openstackoid.testbed import Faults, Testbed

    async def main() -> None:
        bed = Testbed(
            clouds=count,
            shared_identity=fleet.shared_identity,
            first=first,
            signing_key=fleet.signing_key,
        )
        await bed.start()
        bed.write_clouds_yaml(clouds_yaml)
        if fleet.fleet_rules:
            await add_fleet_rules(clouds_yaml)
        mine = {c.name for c in bed.clouds}
        faulty = {name: f for name, f in fleet.faults.items() if name in mine}
        flapping = [name for name, f in faulty.items() if f.get("flapping")]
        for name, faults in faulty.items():
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


async def start_testbeds(
    fleet: Fleet, workdir: Path, name: str = "clouds"
) -> tuple[list[BaseProcess], str]:
    """The fleet's clouds served by as many testbed processes as the open-files limit needs
    (one, up to a few thousand clouds), and the clouds.yaml of them all."""
    per_process = clouds_per_testbed()
    if fleet.clouds > per_process and not fleet.shared_identity:
        raise RuntimeError(
            f"{fleet.clouds} clouds need {-(-fleet.clouds // per_process)} testbed processes "
            "(open-files limit): only clouds sharing identity can be spread over several"
        )
    processes: list[BaseProcess] = []
    parts: list[Path] = []
    for first in range(1, fleet.clouds + 1, per_process):
        count = min(per_process, fleet.clouds - first + 1)
        part = f"{name}-{first}" if fleet.clouds > per_process else name
        parts.append(workdir / f"{part}.yaml")
        ready = workdir / f"{part}.ready"
        log = workdir / f"testbed-{part}.stderr"
        args = (fleet, str(parts[-1]), str(ready), first, count, str(log))
        process = _SPAWN.Process(target=_run_testbed, args=args, daemon=True)
        process.start()
        assert process.pid is not None
        LOGS[process.pid] = log
        processes.append(process)
    for started, part_yaml in zip(processes, parts, strict=True):
        ready = part_yaml.with_suffix(".ready")
        for _ in range(2400):
            if ready.exists() or not started.is_alive():
                break
            await asyncio.sleep(0.05)
        if not ready.exists():
            stop(*processes)
            raise RuntimeError(f"the testbed of {fleet.clouds} clouds did not start")
    clouds_yaml = workdir / f"{name}.yaml"
    if len(parts) > 1:
        merged: dict[str, Any] = {"clouds": {}}
        for part_yaml in parts:  # libyaml's C loader and dumper: 10,000 clouds in seconds
            part = yaml.load(part_yaml.read_text(), Loader=yaml.CSafeLoader)
            merged["clouds"].update(part["clouds"])
        clouds_yaml.write_text(yaml.dump(merged, Dumper=yaml.CSafeDumper, sort_keys=False))
    return processes, str(clouds_yaml)


async def start_testbed(
    fleet: Fleet, workdir: Path, name: str = "clouds"
) -> tuple[BaseProcess, str]:
    """The running testbed process and the clouds.yaml it wrote (a fleet one process holds)."""
    processes, clouds_yaml = await start_testbeds(fleet, workdir, name)
    if len(processes) > 1:
        stop(*processes)
        raise RuntimeError(f"{fleet.clouds} clouds need several testbeds: use start_testbeds")
    return processes[0], clouds_yaml


def _run_proxy(config: ProxyConfig, quiet: bool, log: str | None) -> None:
    if log is not None:
        _log_stderr(log)
    raise_fd_limit()
    from openstackoid.proxy.cli import serve

    if quiet:  # a faulty cloud's every 5xx is a warning: thousands would bury the progress
        logging.getLogger("openstackoid").setLevel(logging.ERROR)
    serve(config)


async def start_proxy(
    config: ProxyConfig, quiet: bool = False, log: Path | None = None
) -> tuple[BaseProcess, str]:
    """`openstackoid proxy` with this config on a free port: its process and base URL.
    With `log`, its stderr goes to that file (read by descriptor_exhaustion)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = dataclasses.replace(config, host="127.0.0.1", port=port, public_url=url)
    args = (config, quiet, str(log) if log else None)
    process = _SPAWN.Process(target=_run_proxy, args=args, daemon=True)
    process.start()
    if log is not None and process.pid is not None:
        LOGS[process.pid] = log
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


async def _fleet_credential(
    session: aiohttp.ClientSession, auth: Mapping[str, Any]
) -> dict[str, str]:
    """An application credential of the cloud's admin limited to member and reader, made
    through Keystone's API as an operator would."""
    url = auth["auth_url"]
    login = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": auth["username"],
                        "password": auth["password"],
                        "domain": {"name": "Default"},
                    }
                },
            },
            "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}},
        }
    }
    async with session.post(f"{url}/auth/tokens", json=login) as resp:
        token = resp.headers["X-Subject-Token"]
        user_id = (await resp.json())["token"]["user"]["id"]
    body = {
        "application_credential": {
            "name": "openstackoid-fleet",
            "roles": [{"name": "member"}, {"name": "reader"}],
        }
    }
    async with session.post(
        f"{url}/users/{user_id}/application_credentials",
        json=body,
        headers={"X-Auth-Token": token},
    ) as resp:
        created = (await resp.json())["application_credential"]
    return {
        "application_credential_id": created["id"],
        "application_credential_secret": created["secret"],
    }


async def add_fleet_rules(clouds_yaml: str, concurrency: int = 50) -> str:
    """Mapping rules for the proxy in a simulated fleet's clouds.yaml (the default is deny):
    a member of any cloud acts at every other as the `fleet` application credential (member
    and reader) registered there, created at each cloud beforehand."""
    path = Path(clouds_yaml)
    document = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    limit = asyncio.Semaphore(concurrency)

    async def credential(session: aiohttp.ClientSession, name: str) -> dict[str, str]:
        async with limit:
            made = await _fleet_credential(session, document["clouds"][name]["auth"])
        return {"cloud": name, "name": "fleet", **made}

    async with aiohttp.ClientSession() as session:
        credentials = await asyncio.gather(*(credential(session, n) for n in document["clouds"]))
    document["openstackoid"] = {
        "target_credentials": list(credentials),
        "mapping_rules": [
            {
                "name": "fleet-members",
                "match": {"issuer": "*", "roles": "member"},
                "targets": "*",
                "credential": "fleet",
            }
        ],
    }
    path.write_text(yaml.dump(document, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)))
    return clouds_yaml


def auth_url(clouds_yaml: str, cloud: str = "cloud-1") -> str:
    from openstackoid.registry import load_clouds_yaml

    return next(c.auth_url for c in load_clouds_yaml(clouds_yaml) if c.name == cloud)


async def issue_token(clouds_yaml: str, cloud: str = "cloud-1") -> str:
    """A token from a testbed cloud's Keystone for its admin, with that cloud's own password
    as the testbed wrote it in clouds.yaml."""
    from openstackoid.registry import load_clouds_yaml

    found = next(c for c in load_clouds_yaml(clouds_yaml) if c.name == cloud)
    assert found.credentials is not None
    body = found.credentials.keystone_auth_body()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{found.auth_url}/auth/tokens", json=body) as resp:
            if resp.status != 201:
                raise RuntimeError(f"{cloud}'s Keystone refused its admin ({resp.status})")
            return resp.headers["X-Subject-Token"]
