"""What an operator does in a new cloud's Keystone after bootstrap: services, endpoints, the
service project and the users Nova, Placement and Neutron run as. Keystone's REST API, admin."""

from __future__ import annotations

from typing import Any

import aiohttp

from openstackoid.testbed.model import DOMAIN_ID, DOMAIN_NAME, REGION
from openstackoid.testbed.real.errors import RealTestbedError
from openstackoid.testbed.real.model import RealCloudInfo

SERVICE_PROJECT = "service"
SERVICE_ROLES = ("admin", "service")
"""Nova 34 and Placement 16 check the `service` role for service-to-service calls."""


class KeystoneAdmin:
    """The cloud's admin, holding a token of its bootstrap project."""

    def __init__(self, http: aiohttp.ClientSession, info: RealCloudInfo, token: str) -> None:
        self.http = http
        self.info = info
        self.headers = {"X-Auth-Token": token}

    @classmethod
    async def login(cls, http: aiohttp.ClientSession, info: RealCloudInfo) -> KeystoneAdmin:
        auth = password_auth(info.username, info.password, info.project_name)
        token = await issue_token(http, info, auth)
        return cls(http, info, token)

    async def add_service(self, service_type: str, name: str, url: str) -> None:
        service = {"service": {"type": service_type, "name": name, "enabled": True}}
        body = await self._post("/services", service)
        endpoint = {
            "service_id": body["service"]["id"],
            "region_id": REGION,
            "url": url,
            "enabled": True,
        }
        for interface in ("public", "internal"):
            await self._post("/endpoints", {"endpoint": {**endpoint, "interface": interface}})

    async def add_service_users(self, names: tuple[str, ...], password: str) -> None:
        """A `service` project and one user per service in it, with the service roles."""
        project = {"project": {"name": SERVICE_PROJECT, "domain_id": DOMAIN_ID}}
        project_id = (await self._post("/projects", project))["project"]["id"]
        roles = {role: await self._role_id(role) for role in SERVICE_ROLES}
        for name in names:
            user = {"user": {"name": name, "password": password, "domain_id": DOMAIN_ID}}
            user_id = (await self._post("/users", user))["user"]["id"]
            for role_id in roles.values():
                url = f"{self.info.auth_url}/projects/{project_id}/users/{user_id}/roles/{role_id}"
                async with self.http.put(url, headers=self.headers) as response:
                    await _expect(response, 204, f"PUT {url}")

    async def _role_id(self, name: str) -> str:
        url = f"{self.info.auth_url}/roles"
        async with self.http.get(url, params={"name": name}, headers=self.headers) as response:
            await _expect(response, 200, f"GET {url}")
            roles = (await response.json())["roles"]
        if not roles:
            raise RealTestbedError(f"{self.info.name}: Keystone has no role {name!r}")
        role_id: str = roles[0]["id"]
        return role_id

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.info.auth_url}{path}"
        async with self.http.post(url, json=body, headers=self.headers) as response:
            await _expect(response, 201, f"POST {url}")
            result: dict[str, Any] = await response.json()
            return result


def password_auth(username: str, password: str, project: str) -> dict[str, Any]:
    domain = {"name": DOMAIN_NAME}
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": username, "password": password, "domain": domain}},
            },
            "scope": {"project": {"name": project, "domain": domain}},
        }
    }


async def issue_token(
    http: aiohttp.ClientSession, info: RealCloudInfo, auth: dict[str, Any]
) -> str:
    async with http.post(f"{info.auth_url}/auth/tokens", json=auth) as response:
        await _expect(response, 201, f"{info.name}: token request")
        return response.headers["X-Subject-Token"]


async def _expect(response: aiohttp.ClientResponse, status: int, what: str) -> None:
    if response.status != status:
        raise RealTestbedError(f"{what} failed ({response.status}): {await response.text()}")
