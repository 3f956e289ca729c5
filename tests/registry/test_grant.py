"""`openstackoid registry grant`: a rule and least-privileged application credentials made at
each target cloud, then a proxy acting with them (simulated Keystones, faithful to the API)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from openstackoid.cli import main
from openstackoid.proxy import ProxyConfig, running_proxy
from openstackoid.proxy.identity.rules_source import load_rules
from openstackoid.proxy.registry_source import load_registry
from openstackoid.registry.rule_store import SqliteRuleStore
from openstackoid.testbed import admin_auth_body
from openstackoid.testbed.pytest_plugin import TestbedFactory

SCOPE = "{keystone: cloud-1; glance: cloud-2 & cloud-3}"


async def _cli(db: Path, *argv: str) -> int:
    return await asyncio.to_thread(main, ["registry", "--db", str(db), *argv])


async def test_a_grant_maps_members_to_fresh_least_privileged_credentials(
    make_testbed: TestbedFactory, tmp_path: Path
) -> None:
    bed = await make_testbed(clouds=3)
    db = tmp_path / "reg.sqlite"
    assert await _cli(db, "import", str(bed.write_clouds_yaml(tmp_path / "fleet.yaml"))) == 0
    assert await _cli(
        db, "grant", "members", "--match-role", "member", "--target", "*",
        "--role", "member", "--role", "reader",
    ) == 0  # fmt: skip
    stored = await SqliteRuleStore(db).load()
    assert [r.name for r in stored.rules] == ["members"]
    assert sorted(c.cloud for c in stored.credentials) == ["cloud-1", "cloud-2", "cloud-3"]
    assert all(c.credentials.is_application_credential for c in stored.credentials)
    config = ProxyConfig(registry_db=str(db))
    registry = await load_registry(config)
    rules = await load_rules(config, registry)
    async with running_proxy(config, registry, rules=rules) as url, aiohttp.ClientSession() as s:
        login = admin_auth_body(bed.cloud("cloud-1"))
        async with s.post(
            f"{url}/identity/v3/auth/tokens", json=login, headers={"X-Scope": SCOPE}
        ) as r:
            headers = {"X-Auth-Token": r.headers["X-Subject-Token"], "X-Scope": SCOPE}
        async with s.get(f"{url}/image/v2/images", headers=headers) as resp:
            # 200, not the proxy's 403: the credentials hold no admin role.
            assert resp.status == 200, await resp.text()
            assert len((await resp.json())["images"]) == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--target", "*", "--role", "admin"), "never hands out the admin role"),
        (("--target", "nowhere-*", "--role", "reader"), "cover no registered cloud"),
    ],
)
async def test_a_refused_grant_stores_nothing(
    make_testbed: TestbedFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...], message: str,
) -> None:  # fmt: skip
    bed = await make_testbed(clouds=2)
    db = tmp_path / "reg.sqlite"
    assert await _cli(db, "import", str(bed.write_clouds_yaml(tmp_path / "fleet.yaml"))) == 0
    capsys.readouterr()
    assert await _cli(db, "grant", "g", "--match-role", "member", *argv) == 1
    assert message in capsys.readouterr().out
    assert (await SqliteRuleStore(db).load()).rules == ()
