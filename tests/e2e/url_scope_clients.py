"""Helpers for clients that never load openstackoid: subprocesses, clouds.yaml, checks made
on the testbed clouds themselves."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from openstackoid.testbed import SimCloudInfo, admin_auth_body
from tests.federation import Federation

ADMIN = {"X-Admin-Token": "admin-secret"}


async def run(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 300
) -> tuple[int, str, str]:
    """A subprocess on the serving loop's side: the proxy keeps answering meanwhile."""
    full_env = {k: v for k, v in os.environ.items() if k != "OS_SCOPE"} | (env or {})
    process = await asyncio.create_subprocess_exec(
        *argv, env=full_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def clouds_yaml(path: Path, auth_url: str, login: SimCloudInfo | None = None, **extra: Any) -> Path:
    """A user's clouds.yaml, cloud `fed`: the admin of `login` (each testbed cloud has its
    own password; none: a made-up one, for tests that never log in)."""
    cloud = {
        "auth": {
            "auth_url": auth_url,
            "username": login.username if login else "admin",
            "password": login.password if login else "unused",
            "project_name": login.project_name if login else "admin",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": "RegionOne",
        "identity_api_version": 3,
        **extra,
    }
    path.write_text(yaml.safe_dump({"clouds": {"fed": cloud}}))
    return path


async def name_scope(fed: Federation, name: str, scope: str) -> None:
    async with fed.session.put(
        f"{fed.url}/_openstackoid/admin/scopes/{name}", json={"scope": scope}, headers=ADMIN
    ) as resp:
        assert resp.status in (200, 201), await resp.text()


async def images_held_by(fed: Federation, cloud: str) -> dict[str, str]:
    """Name -> id of the images the cloud itself holds, asked of it directly."""
    info = fed.bed.cloud(cloud)
    async with aiohttp.ClientSession() as session:
        body = admin_auth_body(info)
        async with session.post(f"{info.auth_url}/auth/tokens", json=body) as resp:
            token = resp.headers["X-Subject-Token"]
        url = f"{info.endpoints['image']}/v2/images"
        async with session.get(url, headers={"X-Auth-Token": token}) as resp:
            body = await resp.json()
    return {image["name"]: image["id"] for image in body["images"]}


def served(fed: Federation, cloud: str, part: str, method: str | None = None) -> list[str]:
    """The paths of the requests a cloud received that contain `part`."""
    return [
        r.path
        for r in fed.bed.requests(cloud)
        if part in r.path and (method is None or r.method == method)
    ]
