"""`openstackoid registry grant`: what the operator registers for a mapping rule, done at
every target cloud through Keystone's API.

At each cloud the rule's targets cover, the account the cloud is registered with creates an
application credential limited to the roles given (never `admin`); each becomes the rule's
target credential there, and the rule maps the matching callers to it. The registered
account itself is never a target credential.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from typing import Any

import aiohttp

from openstackoid.registry.errors import RegistryError
from openstackoid.registry.model import Cloud
from openstackoid.registry.rules import (
    MappingRule,
    TargetCredential,
    credential_from_data,
    rule_from_data,
)
from openstackoid.registry.tls import tls_for

CONCURRENCY = 50
"""Clouds set up at once: a fleet of thousands takes seconds, not a connection each."""


class GrantFailed(RegistryError):
    """A target cloud refused to create the application credential."""


def grant_rule(
    name: str, issuers: Sequence[str], match_roles: Sequence[str], targets: Sequence[str]
) -> MappingRule:
    """The rule of a grant: callers holding one of `match_roles`, validated by `issuers`,
    act at `targets` as the credential named after the rule."""
    return rule_from_data(
        {
            "name": name,
            "match": {"issuer": list(issuers), "roles": {"any_one_of": list(match_roles)}},
            "targets": list(targets),
            "credential": name,
        },
        "grant",
    )


async def _call(
    session: aiohttp.ClientSession, cloud: Cloud, method: str, path: str, **kwargs: Any
) -> tuple[int, dict[str, str], Any]:
    async with session.request(
        method, f"{cloud.auth_url}{path}", allow_redirects=False, ssl=tls_for(cloud), **kwargs
    ) as resp:
        body = await resp.json(content_type=None) if resp.status < 300 else None
        return resp.status, dict(resp.headers), body


async def create_credential(
    session: aiohttp.ClientSession, cloud: Cloud, name: str, roles: Sequence[str]
) -> TargetCredential:
    """An application credential of the cloud's registered account, limited to `roles`."""
    if cloud.credentials is None:
        raise GrantFailed(f"cloud {cloud.name!r} has no registered credentials to create it")
    status, headers, body = await _call(
        session, cloud, "POST", "/auth/tokens", json=cloud.credentials.keystone_auth_body()
    )
    if status != 201 or body is None:
        raise GrantFailed(f"cloud {cloud.name!r} refused its registered account ({status})")
    token, user_id = headers["X-Subject-Token"], body["token"]["user"]["id"]
    request = {
        "application_credential": {
            # Names are unique per user: a suffix lets a grant be renewed beside the old one.
            "name": f"openstackoid-{name}-{secrets.token_hex(4)}",
            "description": f"openstackoid mapping rule {name!r}",
            "roles": [{"name": role} for role in roles],
        }
    }
    status, _, created = await _call(
        session,
        cloud,
        "POST",
        f"/users/{user_id}/application_credentials",
        json=request,
        headers={"X-Auth-Token": token},
    )
    if status != 201 or created is None:
        raise GrantFailed(
            f"cloud {cloud.name!r} refused an application credential with roles "
            f"{', '.join(roles)} ({status})"
        )
    made = created["application_credential"]
    return credential_from_data(
        {
            "cloud": cloud.name,
            "name": name,
            "application_credential_id": made["id"],
            "application_credential_secret": made["secret"],
        },
        f"cloud {cloud.name!r}",
    )


async def grant(
    rule: MappingRule, clouds: Sequence[Cloud], roles: Sequence[str]
) -> list[TargetCredential]:
    """A target credential for `rule` at each of `clouds` it covers."""
    if "admin" in roles:
        raise GrantFailed("a grant never hands out the admin role")
    covered = [cloud for cloud in clouds if rule.covers(cloud)]
    if not covered:
        raise GrantFailed(f"the targets of rule {rule.name!r} cover no registered cloud")
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(session: aiohttp.ClientSession, cloud: Cloud) -> TargetCredential:
        async with limit:
            try:
                return await create_credential(session, cloud, rule.name, roles)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise GrantFailed(f"cloud {cloud.name!r} is unreachable: {exc!r}") from exc

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        return list(await asyncio.gather(*(one(session, cloud) for cloud in covered)))
