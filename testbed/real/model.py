"""How a client reaches one real cloud (Keystone and Glance on their own ports)."""

from __future__ import annotations

from dataclasses import dataclass

from testbed.model import PASSWORD, PROJECT_NAME, USERNAME, cloud_labels


@dataclass(frozen=True)
class RealCloudInfo:
    """One real cloud: Keystone at ``/identity`` on one port, Glance at ``/image`` on another."""

    name: str
    index: int
    host: str
    identity_port: int
    image_port: int
    username: str = USERNAME
    password: str = PASSWORD
    project_name: str = PROJECT_NAME

    @property
    def port(self) -> int:
        """The cloud's Keystone port, the one its ``auth_url`` names."""
        return self.identity_port

    @property
    def ports(self) -> tuple[int, int]:
        return (self.identity_port, self.image_port)

    @property
    def identity_root(self) -> str:
        return f"http://{self.host}:{self.identity_port}/identity"

    @property
    def auth_url(self) -> str:
        return f"{self.identity_root}/v3"

    @property
    def endpoints(self) -> dict[str, str]:
        return {"identity": self.auth_url, "image": f"http://{self.host}:{self.image_port}/image"}

    @property
    def labels(self) -> dict[str, str]:
        return cloud_labels(self.index, self.name)
