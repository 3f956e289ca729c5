"""What nova-api asks Glance and Neutron when a server is created, as real Nova asks: with the
user's token, Nova's own service token and the global request id (nova/image/glance.py,
nova/network/neutron.py), nothing else of the user's request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from openstackoid.testbed.service_user import ServiceCall

GLANCE_USER_AGENT = "python-glanceclient"
NEUTRON_USER_AGENT = "python-neutronclient"


@dataclass(frozen=True)
class NovaCalls:
    session: aiohttp.ClientSession
    image_url: str
    """Glance: [glance] endpoint_override, or the cloud's own."""
    network_url: str
    """Neutron: [neutron] endpoint_override, or the cloud's own."""
    call: ServiceCall

    def _headers(self, user_agent: str) -> dict[str, str]:
        return {
            "X-Auth-Token": self.call.user_token,
            "X-Service-Token": self.call.service_token,
            "X-Openstack-Request-Id": self.call.global_request_id,
            "User-Agent": user_agent,
            "Accept": "application/json",
        }

    async def _get(self, url: str, user_agent: str) -> tuple[int, Any]:
        async with self.session.get(url, headers=self._headers(user_agent)) as resp:
            body = await resp.read()
            try:
                return resp.status, await resp.json(content_type=None) if body else None
            except ValueError:
                return resp.status, None

    async def check_image(self, image_ref: str) -> str | None:
        """The image, then glanceclient's schema; an error message, None if it exists."""
        try:
            status, _ = await self._get(
                f"{self.image_url}/v2/images/{image_ref}", GLANCE_USER_AGENT
            )
            if status == 404:
                return f"Image {image_ref} could not be found."
            if status != 200:
                return f"Image {image_ref} could not be checked: image service answered {status}."
            status, _ = await self._get(f"{self.image_url}/v2/schemas/image", GLANCE_USER_AGENT)
            if status != 200:
                return f"The image schema could not be read: image service answered {status}."
        except aiohttp.ClientError as exc:
            return f"Image {image_ref} could not be checked: {exc}."
        return None

    async def check_networks(self, requested: Any, project_id: str | None) -> str | None:
        """Nova's validate_networks: the networks asked for by id must exist; `auto` needs a
        network of the project or a shared one; `none` (or nothing) asks nothing."""
        if requested in (None, "none", []):
            return None
        networks = f"{self.network_url}/v2.0/networks"
        try:
            if requested == "auto":
                for query in (
                    {"project_id": project_id or "", "shared": "False"},
                    {"shared": "True"},
                ):
                    status, body = await self._get(
                        f"{networks}?{urlencode(query)}", NEUTRON_USER_AGENT
                    )
                    if status != 200:
                        return f"The network service answered {status}."
                    if body and body.get("networks"):
                        return None
                return f"Unable to automatically allocate a network for project {project_id}"
            if not isinstance(requested, list):
                return "Invalid input for field/attribute networks."
            ids = [str(n.get("uuid")) for n in requested if isinstance(n, dict) and n.get("uuid")]
            if not ids:
                return None  # ports or fixed IPs only: not simulated
            by_id = urlencode([("id", i) for i in ids])
            status, body = await self._get(f"{networks}?{by_id}", NEUTRON_USER_AGENT)
            if status != 200:
                return f"The network service answered {status}."
            found = {n.get("id") for n in (body or {}).get("networks", [])}
            missing = [i for i in ids if i not in found]
            if missing:
                return f"Network {missing[0]} could not be found."
        except aiohttp.ClientError as exc:
            return f"Networks could not be checked: {exc}."
        return None
