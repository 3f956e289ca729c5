"""Run the real `openstack` CLI from asyncio code without blocking the serving loop."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path


def openstack_executable() -> str:
    """The `openstack` beside this interpreter (a venv need not be activated), else PATH's."""
    beside = Path(sys.executable).parent / "openstack"
    if beside.exists():
        return str(beside)
    found = shutil.which("openstack")
    if found is None:
        raise FileNotFoundError("the openstack CLI (python-openstackclient) is not installed")
    return found


async def run_openstack(
    *args: str, clouds_yaml: Path, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `openstack ARGS` with OS_CLIENT_CONFIG_FILE set."""
    full_env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(clouds_yaml), **(env or {})}
    process = await asyncio.create_subprocess_exec(
        openstack_executable(),
        *args,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
