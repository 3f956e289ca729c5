"""An operator's Keystone v3 calls over REST, for setting up identities in tests: projects,
users, role assignments, application credentials, tokens. Works on real Keystone and on any
simulated one faithful to its API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp


class KeystoneCallFailed(AssertionError):
    pass


def password_auth(
    user: str, password: str, project: str | None, domain: str = "Default"
) -> dict[str, Any]:
    identity = {
        "methods": ["password"],
        "password": {"user": {"name": user, "domain": {"name": domain}, "password": password}},
    }
    auth: dict[str, Any] = {"identity": identity}
    if project is not None:
        auth["scope"] = {"project": {"name": project, "domain": {"name": domain}}}
    return {"auth": auth}


@dataclass(frozen=True)
class AppCredential:
    id: str
    secret: str


class KeystoneAdmin:
    """Calls made with one token at one Keystone (`auth_url` ends in /v3)."""

    def __init__(self, http: aiohttp.ClientSession, auth_url: str, token: str) -> None:
        self.http = http
        self.auth_url = auth_url
        self.token = token

    @classmethod
    async def login(
        cls,
        http: aiohttp.ClientSession,
        auth_url: str,
        user: str,
        password: str,
        project: str | None,
    ) -> KeystoneAdmin:
        return cls(http, auth_url, await issue(http, auth_url, user, password, project))

    async def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        headers = {"X-Auth-Token": self.token}
        async with self.http.request(
            method, f"{self.auth_url}{path}", json=body, headers=headers
        ) as resp:
            if resp.status != expect:
                raise KeystoneCallFailed(
                    f"{method} {path}: {resp.status} (expected {expect}): {await resp.text()}"
                )
            return await resp.json() if resp.status != 204 else None

    async def project(self, name: str) -> str:
        body = {"project": {"name": name, "domain_id": "default"}}
        return str((await self.call("POST", "/projects", body, 201))["project"]["id"])

    async def user(self, name: str, password: str, project_id: str) -> str:
        body = {
            "user": {
                "name": name,
                "password": password,
                "domain_id": "default",
                "default_project_id": project_id,
            }
        }
        return str((await self.call("POST", "/users", body, 201))["user"]["id"])

    async def role_id(self, name: str) -> str:
        roles = (await self.call("GET", f"/roles?name={name}"))["roles"]
        if not roles:
            raise KeystoneCallFailed(f"no role {name!r}")
        return str(roles[0]["id"])

    async def grant(self, project_id: str, user_id: str, role: str) -> None:
        role_id = await self.role_id(role)
        await self.call("PUT", f"/projects/{project_id}/users/{user_id}/roles/{role_id}", None, 204)

    async def group(self, name: str, members: list[str]) -> str:
        body = {"group": {"name": name, "domain_id": "default"}}
        group_id = str((await self.call("POST", "/groups", body, 201))["group"]["id"])
        for user_id in members:
            await self.call("PUT", f"/groups/{group_id}/users/{user_id}", None, 204)
        return group_id

    async def my_user_id(self) -> str:
        headers = {"X-Auth-Token": self.token, "X-Subject-Token": self.token}
        async with self.http.get(f"{self.auth_url}/auth/tokens", headers=headers) as resp:
            return str((await resp.json())["token"]["user"]["id"])

    async def application_credential(self, name: str, roles: list[str]) -> AppCredential:
        """Created by the token's own user (Keystone allows no other), limited to `roles`."""
        body = {"application_credential": {"name": name, "roles": [{"name": r} for r in roles]}}
        user_id = await self.my_user_id()
        created = (await self.call("POST", f"/users/{user_id}/application_credentials", body, 201))[
            "application_credential"
        ]
        return AppCredential(str(created["id"]), str(created["secret"]))


async def issue(
    http: aiohttp.ClientSession, auth_url: str, user: str, password: str, project: str | None
) -> str:
    body = password_auth(user, password, project)
    async with http.post(f"{auth_url}/auth/tokens", json=body) as resp:
        if resp.status != 201:
            raise KeystoneCallFailed(f"token for {user!r} refused: {resp.status}")
        return resp.headers["X-Subject-Token"]


async def token_status(http: aiohttp.ClientSession, auth_url: str, token: str) -> int:
    """How the issuer now judges a token (200 valid, 404 revoked or unknown)."""
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    async with http.get(f"{auth_url}/auth/tokens", headers=headers) as resp:
        return resp.status
