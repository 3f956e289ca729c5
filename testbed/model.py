"""Values and per-cloud state of the simulated clouds."""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from registry import Credentials

USERNAME = "admin"
PASSWORD = "secret"
PROJECT_NAME = "admin"
DOMAIN_ID = "default"
DOMAIN_NAME = "Default"
REGION = "RegionOne"
FLAVORS = (("1", "m1.tiny", 512, 1, 1), ("2", "m1.small", 2048, 20, 1))


def admin_auth_body() -> dict[str, Any]:
    """POST /v3/auth/tokens for every testbed cloud's admin, scoped to its project."""
    admin = Credentials(USERNAME, PASSWORD, PROJECT_NAME, DOMAIN_NAME, DOMAIN_NAME)
    return admin.keystone_auth_body()


def stable_id(cloud: str, kind: str) -> str:
    """Deterministic ids: the same cloud always has the same image, project, ... ids."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"openstackoid-testbed/{cloud}/{kind}"))


@dataclass(frozen=True)
class Faults:
    """What is wrong with a cloud right now (all off by default)."""

    latency: float = 0.0
    """Seconds added before every response."""
    outage: bool = False
    """The listening socket is closed: connection refused."""
    error_rate: float = 0.0
    """Share of requests answered 503 with an OpenStack error body."""
    slow_body: float = 0.0
    """Seconds spent dribbling each response body in small chunks."""
    reset_mid_body: bool = False
    """Close the connection halfway through each response body."""
    garbage: bool = False
    """Answer every request with bytes that are not HTTP, then close."""


def cloud_labels(index: int, name: str) -> dict[str, str]:
    """Labels of the n-th testbed cloud, simulated or real: selectors work alike on both."""
    return {
        "region": "eu" if index % 2 else "us",
        "tier": "core" if index == 1 else "edge",
        "site": name,
    }


@dataclass(frozen=True)
class SimCloudInfo:
    """How a client reaches one simulated cloud."""

    name: str
    index: int
    host: str
    port: int
    username: str = USERNAME
    password: str = PASSWORD
    project_name: str = PROJECT_NAME
    scheme: str = "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/identity/v3"

    @property
    def endpoints(self) -> dict[str, str]:
        base = self.base_url
        return {
            "identity": f"{base}/identity/v3",
            "image": f"{base}/image",
            "compute": f"{base}/compute/v2.1",
            "network": f"{base}/network",
        }

    @property
    def labels(self) -> dict[str, str]:
        return cloud_labels(self.index, self.name)

    @property
    def image_id(self) -> str:
        """The id of this cloud's seeded `cirros` image."""
        return stable_id(self.name, "image/cirros")


@dataclass(frozen=True)
class RecordedRequest:
    """One request a cloud received; never the token itself."""

    method: str
    path: str
    query: str
    scope: str | None
    has_token: bool


@dataclass
class TokenRecord:
    cloud: str
    user_id: str
    project_id: str
    methods: list[str]
    issued_at: datetime
    expires_at: datetime


@dataclass
class CloudState:
    """Everything one cloud holds. Resource tables are made on first use, so a thousand idle
    clouds cost little memory."""

    info: SimCloudInfo
    faults: Faults = Faults()
    requests: deque[RecordedRequest] = field(default_factory=lambda: deque(maxlen=500))
    _images: dict[str, dict[str, Any]] | None = None
    _servers: dict[str, dict[str, Any]] | None = None
    _networks: dict[str, dict[str, Any]] | None = None

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def project_id(self) -> str:
        return stable_id(self.name, "project/admin").replace("-", "")

    @property
    def user_id(self) -> str:
        return stable_id(self.name, "user/admin").replace("-", "")

    @property
    def images(self) -> dict[str, dict[str, Any]]:
        if self._images is None:
            from testbed.image import seed_images

            self._images = seed_images(self)
        return self._images

    @property
    def servers(self) -> dict[str, dict[str, Any]]:
        if self._servers is None:
            self._servers = {}
        return self._servers

    @property
    def networks(self) -> dict[str, dict[str, Any]]:
        if self._networks is None:
            from testbed.network import seed_networks

            self._networks = seed_networks(self)
        return self._networks
