"""Where the proxy's mapping rules come from: files at start (checked), the admin API at
run time (in force at once), a fleet's PostgreSQL (every proxy follows); and the strategies
around them."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from openstackoid.proxy import ProxyConfig, running_proxy
from openstackoid.proxy.cli import register
from openstackoid.proxy.identity.rules_source import load_rules
from openstackoid.proxy.registry_source import load_registry
from openstackoid.registry import InvalidRuleError, Registry, RuleBook, load_clouds_yaml
from openstackoid.registry.postgres import PostgresStore
from openstackoid.testbed import Testbed, admin_auth_body
from openstackoid.testbed.pytest_plugin import TestbedFactory
from tests.e2e.test_fleet_postgres import fleet_dsn  # noqa: F401 - a fixture
from tests.federation import FederationFactory
from tests.identity.keystone_admin import KeystoneAdmin

ADMIN = {"X-Admin-Token": "let-me-in"}
SCOPE = "{keystone: cloud-1; glance: cloud-2}"
RULE = {
    "match": {"issuer": "cloud-1", "roles": "member"},
    "targets": "cloud-2",
    "credential": "reader",
}


async def _reader_of(bed: Testbed, session: aiohttp.ClientSession) -> dict[str, str]:
    """An application credential limited to `reader`, created at cloud-2 by its admin."""
    two = bed.cloud("cloud-2")
    admin = await KeystoneAdmin.login(session, two.auth_url, "admin", two.password, "admin")
    cred = await admin.application_credential("openstackoid-reader", ["reader"])
    return {"application_credential_id": cred.id, "application_credential_secret": cred.secret}


async def _status(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> int:
    async with session.get(f"{url}/image/v2/images", headers=headers) as resp:
        return resp.status


async def _put(session: aiohttp.ClientSession, url: str, path: str, body: Any) -> int:
    async with session.put(f"{url}/_openstackoid/admin{path}", json=body, headers=ADMIN) as resp:
        return resp.status


async def test_rules_put_through_the_admin_api_are_in_force_at_once(
    make_federation: FederationFactory,
) -> None:
    fed = await make_federation(rules=RuleBook(), admin_token="let-me-in")
    headers = await fed.scoped(SCOPE)
    assert await _status(fed.session, fed.url, headers) == 403
    credential = await _reader_of(fed.bed, fed.session)
    assert await _put(fed.session, fed.url, "/target-credentials/cloud-2/reader", credential) == 201
    assert await _put(fed.session, fed.url, "/mapping-rules/members", RULE) == 201
    assert await _status(fed.session, fed.url, headers) == 200
    async with fed.session.delete(
        f"{fed.url}/_openstackoid/admin/mapping-rules/members", headers=ADMIN
    ) as resp:
        assert resp.status == 204
    assert await _status(fed.session, fed.url, headers) == 403  # no decision outlives it


def _clouds_yaml_with_rules(source: Path, target: Path, credential: dict[str, Any]) -> Path:
    document = yaml.safe_load(source.read_text())
    document["openstackoid"] = {
        "target_credentials": [{"cloud": "cloud-2", "name": "reader", **credential}],
        "mapping_rules": [{"name": "members", **RULE}],
    }
    target.write_text(yaml.safe_dump(document))
    return target


async def test_a_proxy_starts_with_the_rules_of_its_clouds_yaml(
    make_testbed: TestbedFactory, tmp_path: Path
) -> None:
    bed = await make_testbed(clouds=2)
    plain = bed.write_clouds_yaml(tmp_path / "plain.yaml")
    async with aiohttp.ClientSession() as s:
        credential = await _reader_of(bed, s)
    with_rules = _clouds_yaml_with_rules(plain, tmp_path / "c.yaml", credential)
    config = ProxyConfig(clouds_yaml=str(with_rules))
    registry = await load_registry(config)
    rules = await load_rules(config, registry)
    assert [r.name for r in rules.rules()] == ["members"]
    login = admin_auth_body(bed.cloud("cloud-1"))
    async with running_proxy(config, registry, rules=rules) as url, aiohttp.ClientSession() as s:
        async with s.post(
            f"{url}/identity/v3/auth/tokens", json=login, headers={"X-Scope": SCOPE}
        ) as resp:
            token = resp.headers["X-Subject-Token"]
        assert await _status(s, url, {"X-Auth-Token": token, "X-Scope": SCOPE}) == 200


async def test_a_clouds_own_account_as_target_credential_stops_the_start(
    make_testbed: TestbedFactory, tmp_path: Path
) -> None:
    bed = await make_testbed(clouds=2)
    plain = bed.write_clouds_yaml(tmp_path / "plain.yaml")
    blanket = {"username": "admin", "password": "secret", "project_name": "admin"}
    config = ProxyConfig(
        clouds_yaml=str(_clouds_yaml_with_rules(plain, tmp_path / "c.yaml", blanket))
    )
    with pytest.raises(InvalidRuleError, match="is the account the cloud is registered with"):
        await load_rules(config, await load_registry(config))


async def test_blanket_admin_unsafe_is_the_old_behaviour_and_says_so(
    make_federation: FederationFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="openstackoid.proxy"):
        fed = await make_federation(rules=RuleBook(), identity_strategy="blanket-admin-UNSAFE")
    assert "blanket-admin-UNSAFE" in caplog.text and "usually an admin" in caplog.text
    assert await _status(fed.session, fed.url, await fed.scoped(SCOPE)) == 200
    assert ProxyConfig().identity_strategy == "validate-at-issuer"


def test_token_cache_seconds_is_configurable_and_never_negative() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["proxy", "--token-cache-seconds", "5"])
    assert args.token_cache_seconds == 5.0
    assert ProxyConfig().token_cache_seconds == 60.0
    with pytest.raises(ValueError, match="cannot be negative"):
        ProxyConfig(token_cache_seconds=-1)


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> bool:
    """Polls a condition that a NOTIFY makes true on the other proxy (bounded)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.postgres
async def test_a_rule_put_through_one_proxy_is_applied_by_the_other(
    make_testbed: TestbedFactory,
    tmp_path: Path,
    fleet_dsn: str,  # noqa: F811 - the fixture imported above
) -> None:
    bed = await make_testbed(clouds=2)
    seed = await PostgresStore(fleet_dsn).open()
    await seed.upsert_many(load_clouds_yaml(bed.write_clouds_yaml(tmp_path / "clouds.yaml")))
    await seed.close()
    config = ProxyConfig(registry_dsn=fleet_dsn, admin_token="let-me-in")
    async with AsyncExitStack() as stack:
        proxy_a = await stack.enter_async_context(running_proxy(config, Registry()))
        proxy_b = await stack.enter_async_context(running_proxy(config, Registry()))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        login = admin_auth_body(bed.cloud("cloud-1"))
        async with session.post(
            f"{proxy_b}/identity/v3/auth/tokens", json=login, headers={"X-Scope": SCOPE}
        ) as resp:
            headers = {"X-Auth-Token": resp.headers["X-Subject-Token"], "X-Scope": SCOPE}
        assert await _status(session, proxy_b, headers) == 403
        credential = await _reader_of(bed, session)
        assert await _put(session, proxy_a, "/target-credentials/cloud-2/reader", credential) == 201
        assert await _put(session, proxy_a, "/mapping-rules/members", RULE) == 201

        async def allowed_by_b() -> bool:
            return await _status(session, proxy_b, headers) == 200

        assert await _eventually(allowed_by_b)
