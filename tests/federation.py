"""Fixtures for a proxy in front of a testbed: the `federation` every proxy test talks to."""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio

from openstackoid.proxy import ProxyConfig, running_proxy
from openstackoid.registry import (
    Cloud,
    Registry,
    RuleBook,
    TargetCredential,
    load_clouds_yaml,
    rule_from_data,
)
from openstackoid.scope_dsl import parse_scope
from openstackoid.scope_dsl.ast import CloudRef
from openstackoid.testbed import SimCloudInfo, Testbed, admin_auth_body
from openstackoid.testbed.pytest_plugin import TestbedFactory

FLEET_ADMIN = "fleet-admin"
FLEET_ADMINS_RULE = rule_from_data(
    {
        "name": "fleet-admins",
        "description": "the fixture's operator lets an admin of any cloud act as admin anywhere",
        "match": {"issuer": "*", "roles": "admin"},
        "targets": "*",
        "credential": FLEET_ADMIN,
        "allow_admin": True,
    }
)


def grant_fleet_admin(rules: RuleBook, cloud: Cloud) -> None:
    """Register the cloud's admin account as its `fleet-admin` target credential."""
    if cloud.credentials is not None:
        rules.upsert_credential(TargetCredential(cloud.name, FLEET_ADMIN, cloud.credentials))


def fleet_admins(registry: Registry) -> RuleBook:
    """Mapping rules for tests about routing, not identity: admins act as admins everywhere
    (explicitly: the default is deny)."""
    rules = RuleBook([FLEET_ADMINS_RULE])
    for cloud in registry:
        grant_fleet_admin(rules, cloud)
    return rules


@dataclass
class Federation:
    bed: Testbed
    url: str
    registry: Registry
    session: aiohttp.ClientSession
    rules: RuleBook

    def issuer(self, scope: str) -> SimCloudInfo:
        """The testbed cloud whose Keystone `scope` names; cloud-1 for any other (a test's
        own stub Keystone accepts any credentials)."""
        expr = parse_scope(scope).expr_for("identity")
        names = {c.name for c in self.bed.clouds}
        name = expr.name if isinstance(expr, CloudRef) and expr.name in names else "cloud-1"
        return self.bed.cloud(name)

    async def token(self, scope: str) -> str:
        """A token of the admin of the Keystone `scope` names, with that cloud's password."""
        body = admin_auth_body(self.issuer(scope))
        url = f"{self.url}/identity/v3/auth/tokens"
        async with self.session.post(url, json=body, headers={"X-Scope": scope}) as resp:
            assert resp.status == 201, await resp.text()
            return resp.headers["X-Subject-Token"]

    async def scoped(self, scope: str) -> dict[str, str]:
        """Headers of a request under `scope`, with a token issued for it."""
        return {"X-Auth-Token": await self.token(scope), "X-Scope": scope}

    async def add_images(self, headers: dict[str, str], clouds: int) -> dict[str, set[str]]:
        """Two more images in each of cloud-1..cloud-N beside its cirros, created through the
        proxy with `headers` (their token, cloud-1's Keystone); every image id, per cloud."""
        ids: dict[str, set[str]] = {}
        for index in range(1, clouds + 1):
            cloud = f"cloud-{index}"
            ids[cloud] = {self.bed.cloud(cloud).image_id}
            for n in range(2):
                async with self.session.post(
                    f"{self.url}/image/v2/images",
                    json={"name": f"img-{n}"},
                    headers={**headers, "X-Scope": f"{{keystone: cloud-1; glance: {cloud}}}"},
                ) as resp:
                    assert resp.status == 201
                    ids[cloud].add((await resp.json())["id"])
        return ids


FederationFactory = Callable[..., Awaitable[Federation]]


@pytest_asyncio.fixture
async def make_federation(
    make_testbed: TestbedFactory, tmp_path: Path
) -> AsyncIterator[FederationFactory]:
    contexts: list[Any] = []
    sessions: list[aiohttp.ClientSession] = []

    async def factory(
        clouds: int = 3,
        shared_identity: bool = False,
        rules: RuleBook | None = None,
        **config: Any,
    ) -> Federation:
        bed = await make_testbed(clouds=clouds, shared_identity=shared_identity)
        registry = Registry(load_clouds_yaml(bed.write_clouds_yaml(tmp_path / "clouds.yaml")))
        rules = fleet_admins(registry) if rules is None else rules
        context = running_proxy(ProxyConfig(**config), registry, rules=rules)
        url = await context.__aenter__()
        contexts.append(context)
        bed.image_service_url = f"{url}/image"  # Nova asks Glance through the proxy
        session = aiohttp.ClientSession()
        sessions.append(session)
        return Federation(bed, url, registry, session, rules)

    yield factory
    for session in sessions:
        await session.close()
    for context in reversed(contexts):
        await context.__aexit__(None, None, None)


@pytest_asyncio.fixture
async def federation(make_federation: FederationFactory) -> Federation:
    return await make_federation()
