"""What the clouds' access logs prove about Nova's image call in the seed scenario.

Nova of the compute cloud asks for the image with ``GET /v2/images/{id}`` (User-Agent
``python-glanceclient``). Through the proxy, the image cloud's Glance must receive it with a
token its own Keystone issued to the proxy: not the user's token, not Nova's service token
(both issued by the compute cloud's Keystone), and the compute cloud's Glance must not see it.
"""

from __future__ import annotations

from dataclasses import dataclass

from openstackoid.testbed.real.access_log import AccessEntry, issued_tokens, read_access_log
from openstackoid.testbed.real.bed import TESTBED_AGENT, RealTestbed

NOVA_IMAGE_AGENT = "python-glanceclient"
PROXY_AGENT_MARK = "aiohttp/"
"""The proxy's own calls (token requests, validations) carry aiohttp's User-Agent."""


@dataclass(frozen=True)
class ImageHop:
    image_id: str
    nova_calls: tuple[AccessEntry, ...]
    """Nova's GET of the image, as the image cloud's Glance received it."""
    proxy_tokens: frozenset[str]
    """Digests of the tokens the image cloud's Keystone issued to the proxy."""
    compute_cloud_tokens: frozenset[str]
    """Digests of every token the compute cloud's Keystone issued (the user's, Nova's)."""
    registered_user: str | None
    """The user id of the account the image cloud is registered with: an application
    credential the operator's rule maps callers to acts as it, with its own roles only."""
    own_glance_calls: tuple[AccessEntry, ...]
    """GETs of the image at the compute cloud's own Glance (there must be none)."""

    @property
    def nova_reached_image_cloud(self) -> bool:
        return bool(self.nova_calls) and all(call.status == 200 for call in self.nova_calls)

    @property
    def with_proxy_token_only(self) -> bool:
        return all(
            call.token in self.proxy_tokens
            and call.token not in self.compute_cloud_tokens
            and call.service_token is None
            and call.user_id == self.registered_user
            for call in self.nova_calls
        )

    def with_roles_only(self, roles: frozenset[str]) -> bool:
        """Every Nova call came with exactly `roles` (the mapped identity's), not the
        registered account's own (admin)."""
        return all(call.role_names == roles for call in self.nova_calls)

    @property
    def own_glance_untouched(self) -> bool:
        return not self.own_glance_calls


def _image_gets(entries: list[AccessEntry], image_id: str, agent: str) -> tuple[AccessEntry, ...]:
    path = f"/image/v2/images/{image_id}"
    return tuple(
        entry
        for entry in entries
        if entry.method == "GET" and entry.path == path and (entry.user_agent or "") == agent
    )


def image_hop(bed: RealTestbed, compute_cloud: str, image_cloud: str, image_id: str) -> ImageHop:
    image_glance = read_access_log(bed.access_log(image_cloud, "glance"))
    image_keystone = bed.access_log(image_cloud, "keystone")
    proxy_tokens = issued_tokens(image_keystone, agent_mark=PROXY_AGENT_MARK)
    # The testbed set the image up as the image cloud's admin, the account the image cloud
    # is registered with in the proxy.
    admin = next(
        (e.user_id for e in image_glance if e.user_agent == TESTBED_AGENT and e.user_id), None
    )
    own_glance = read_access_log(bed.access_log(compute_cloud, "glance"))
    return ImageHop(
        image_id=image_id,
        nova_calls=_image_gets(image_glance, image_id, NOVA_IMAGE_AGENT),
        proxy_tokens=frozenset(proxy_tokens),
        compute_cloud_tokens=frozenset(issued_tokens(bed.access_log(compute_cloud, "keystone"))),
        registered_user=admin,
        own_glance_calls=tuple(
            entry
            for entry in own_glance
            if entry.method == "GET"
            and image_id in entry.path
            and entry.user_agent != TESTBED_AGENT
        ),
    )
