"""Operators' listeners: HTTPS on the proxy's port (--tls-cert/--tls-key), and /metrics with
the admin API on a port of their own (--admin-port), away from the clouds' users."""

import asyncio
import json
import os
import ssl
import sys
from pathlib import Path

import aiohttp
import pytest
import trustme

from openstackoid.testbed import Testbed
from openstackoid.testbed.cli_runner import run_openstack
from tests.processes import health, wait_for_line
from tests.proxy.test_cli import _stop


async def _proxy(*argv: str) -> tuple[asyncio.subprocess.Process, str, list[str]]:
    """`openstackoid proxy ARGV` on a free port: process, the URL it logs, its stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "openstackoid.cli", "proxy", "--port", "0", *argv,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    seen: list[str] = []
    line = await wait_for_line(process.stderr, "serving 3 clouds", seen)
    return process, line.rsplit(" on ", 1)[1].strip(), seen


async def test_tls_listener_with_a_real_client(
    testbed: Testbed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    clouds_yaml = testbed.write_clouds_yaml(tmp_path / "fleet.yaml")
    process, url, _ = await _proxy(
        "--clouds-yaml", str(clouds_yaml), "--default-scope", "{*: cloud-1}",
        "--tls-cert", str(cert_file), "--tls-key", str(key_file),
    )  # fmt: skip
    try:
        assert url.startswith("https://127.0.0.1:")
        trusting = ssl.create_default_context(cafile=str(ca_file))
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/healthz", ssl=trusting) as resp:
                assert resp.status == 200
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await session.get(f"{url}/healthz")  # the system CAs do not know trustme's
            with pytest.raises(aiohttp.ServerDisconnectedError):  # plain HTTP: dropped
                await session.get(url.replace("https", "http", 1) + "/healthz")
        for key in [k for k in os.environ if k.startswith("OS_")]:
            monkeypatch.delenv(key)
        code, out, err = await run_openstack(
            "--os-auth-url", f"{url}/identity/v3", "--os-cacert", str(ca_file),
            "--os-username", "admin", "--os-password", testbed.cloud("cloud-1").password,
            "--os-project-name", "admin", "--os-user-domain-name", "Default",
            "--os-project-domain-name", "Default", "--os-identity-api-version", "3",
            "token", "issue", "-f", "json",
            clouds_yaml=tmp_path / "none.yaml",
        )  # fmt: skip
        assert code == 0, err
        assert json.loads(out)["project_id"]
        assert any(r.path == "/identity/v3/auth/tokens" for r in testbed.requests("cloud-1"))
    finally:
        await _stop(process)


async def test_unusable_tls_files_are_one_line(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "openstackoid.cli", "proxy", "--port", "0",
        "--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", str(tmp_path / "key.pem"),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == 2
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "openstackoid proxy: error: cannot use --tls-cert"
    )


async def test_metrics_and_admin_api_on_the_admin_port_only(
    testbed: Testbed, tmp_path: Path
) -> None:
    clouds_yaml = testbed.write_clouds_yaml(tmp_path / "fleet.yaml")
    config = tmp_path / "proxy.yaml"
    config.write_text(f"admin_token: s3cret\nclouds_yaml: {clouds_yaml}\n")
    process, url, seen = await _proxy("--config", str(config), "--admin-port", "0")
    assert process.stderr is not None
    admin_line = await wait_for_line(process.stderr, "operator listener", seen)
    admin_url = admin_line.rsplit(" on ", 1)[1].strip()
    token = {"X-Admin-Token": "s3cret"}
    try:
        async with aiohttp.ClientSession() as session:
            await health(session, url)
            for path in ("/metrics", "/_openstackoid/metrics", "/_openstackoid/admin/clouds"):
                async with session.get(url + path, headers=token) as resp:
                    assert resp.status == 404, path  # not on the users' port
            async with session.get(f"{admin_url}/metrics") as resp:
                assert resp.status == 200
                assert "openstackoid_requests_total" in await resp.text()
            async with session.get(f"{admin_url}/_openstackoid/admin/clouds") as resp:
                assert resp.status == 401
            async with session.get(f"{admin_url}/_openstackoid/admin/clouds", headers=token) as r:
                assert r.status == 200
                assert len((await r.json())["clouds"]) == 3
            async with session.get(f"{admin_url}/healthz") as resp:
                assert (await resp.json())["clouds"] == 3
    finally:
        await _stop(process)
