"""How a client reaches one real cloud: a service per port, Keystone and Glance in every
cloud, Nova, Placement and Neutron in a compute cloud."""

from __future__ import annotations

from dataclasses import dataclass

from openstackoid.testbed.model import PASSWORD, PROJECT_NAME, USERNAME, CloudInfo


@dataclass(frozen=True)
class ComputePorts:
    compute: int
    placement: int
    network: int

    @property
    def all(self) -> tuple[int, int, int]:
        return (self.compute, self.placement, self.network)

    def endpoints(self, host: str) -> dict[str, str]:
        return {
            "compute": f"http://{host}:{self.compute}/compute/v2.1",
            "placement": f"http://{host}:{self.placement}/placement",
            "network": f"http://{host}:{self.network}/network",
        }


@dataclass(frozen=True)
class RealCloudInfo(CloudInfo):
    """One real cloud: Keystone at ``/identity`` on one port, Glance at ``/image`` on another;
    a compute cloud adds Nova at ``/compute``, Placement at ``/placement`` and Neutron at
    ``/network``, each on its own port."""

    identity_port: int
    image_port: int
    username: str = USERNAME
    password: str = PASSWORD
    project_name: str = PROJECT_NAME
    compute_ports: ComputePorts | None = None

    @property
    def is_compute(self) -> bool:
        return self.compute_ports is not None

    @property
    def port(self) -> int:
        """The cloud's Keystone port, the one its ``auth_url`` names."""
        return self.identity_port

    @property
    def ports(self) -> tuple[int, ...]:
        extra = self.compute_ports.all if self.compute_ports else ()
        return (self.identity_port, self.image_port, *extra)

    @property
    def identity_root(self) -> str:
        return f"http://{self.host}:{self.identity_port}/identity"

    @property
    def auth_url(self) -> str:
        return f"{self.identity_root}/v3"

    @property
    def endpoints(self) -> dict[str, str]:
        found = {"identity": self.auth_url, "image": f"http://{self.host}:{self.image_port}/image"}
        if self.compute_ports is not None:
            found.update(self.compute_ports.endpoints(self.host))
        return found
