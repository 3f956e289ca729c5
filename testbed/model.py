"""Values and per-cloud state of the simulated clouds."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openstackoid.registry import Credentials

if TYPE_CHECKING:
    from openstackoid.testbed.directory import Directory

USERNAME = "admin"
PASSWORD = "secret"
"""Only testbed/real's Keystones are bootstrapped with it; simulated clouds each have their
own passwords (cloud_secret)."""
PROJECT_NAME = "admin"
SERVICE_USERNAME = "nova"
"""Nova's service user, in each cloud's own `service` project."""
SERVICE_PROJECT_NAME = "service"
DOMAIN_ID = "default"
DOMAIN_NAME = "Default"
REGION = "RegionOne"
FLAVORS = (("1", "m1.tiny", 512, 1, 1), ("2", "m1.small", 2048, 20, 1))


def admin_auth_body(cloud: SimCloudInfo) -> dict[str, Any]:
    """POST /v3/auth/tokens for `cloud`'s admin, scoped to its admin project."""
    admin = Credentials(cloud.username, cloud.password, cloud.project_name)
    return admin.keystone_auth_body()


def service_auth_body(cloud: CloudState) -> dict[str, Any]:
    """Nova's [service_user] credentials at its own cloud's Keystone."""
    info = cloud.info
    nova = Credentials(SERVICE_USERNAME, info.service_password, SERVICE_PROJECT_NAME)
    return nova.keystone_auth_body()


def cloud_secret(seed: bytes, cloud: str, user: str) -> str:
    """A user's password in one cloud: distinct per cloud, user and testbed run."""
    digest = hmac.new(seed, f"{cloud}/{user}".encode(), hashlib.sha256).hexdigest()
    return f"{cloud}-{user}-{digest[:16]}"


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


@dataclass(frozen=True)
class CloudInfo:
    """What a testbed cloud, simulated or real, is: the n-th cloud, named, on a host."""

    name: str
    index: int
    host: str

    @property
    def labels(self) -> dict[str, str]:
        """The same on both testbeds: selectors work alike on both."""
        return {
            "region": "eu" if self.index % 2 else "us",
            "tier": "core" if self.index == 1 else "edge",
            "site": self.name,
        }

    @property
    def image_id(self) -> str:
        """The id of this cloud's seeded `cirros` image (the same on both testbeds)."""
        return stable_id(self.name, "image/cirros")


@dataclass(frozen=True)
class SimCloudInfo(CloudInfo):
    """How a client reaches one simulated cloud."""

    port: int
    password: str = field(repr=False)
    """The admin's password: each cloud has its own."""
    service_password: str = field(repr=False)
    """Nova's service user's password at this cloud's Keystone."""
    username: str = USERNAME
    project_name: str = PROJECT_NAME
    scheme: str = "http"

    def stable_hex(self, kind: str) -> str:
        """A Keystone-style id (hex, no dashes) that is the same on every run."""
        return stable_id(self.name, kind).replace("-", "")

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


@dataclass(frozen=True)
class Caller:
    """Who a token presented to a cloud belongs to: its issuing cloud, user and project."""

    cloud: str
    user: str
    project: str | None


@dataclass(frozen=True)
class RecordedRequest:
    """One request a cloud received; never a token itself, only whose it is."""

    method: str
    path: str
    query: str
    caller: Caller | None
    """The owner of X-Auth-Token if this cloud's Keystone knows it, else None."""
    service_caller: Caller | None
    """The owner of X-Service-Token (a service calling on a user's behalf), if any."""
    request_id: str | None
    """The X-Openstack-Request-Id the client sent."""
    header_names: frozenset[str]
    """Lower-cased names of every header received: what a client let through."""

    @property
    def has_token(self) -> bool:
        return "x-auth-token" in self.header_names


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
    gate: asyncio.Event | None = None
    """While set to an unset event, requests wait on it: a test holds a cloud's answers."""
    held: int = 0
    """Requests waiting at the gate now."""
    service_token: tuple[str, float] | None = None
    """Nova's own service token and its renewal deadline (time.monotonic())."""

    @property
    def name(self) -> str:
        return self.info.name

    _directory: Directory | None = None

    @property
    def directory(self) -> Directory:
        """This cloud's Keystone data, built on first use."""
        if self._directory is None:
            from openstackoid.testbed.directory import Directory

            self._directory = Directory(self.info)
        return self._directory

    @property
    def project_id(self) -> str:
        """The admin project's id: owner of the seeded resources."""
        return self.info.stable_hex(f"project/{PROJECT_NAME}")

    @property
    def user_id(self) -> str:
        """The admin's id."""
        return self.info.stable_hex(f"user/{USERNAME}")

    @property
    def images(self) -> dict[str, dict[str, Any]]:
        if self._images is None:
            from openstackoid.testbed.image import seed_images

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
            from openstackoid.testbed.network import seed_networks

            self._networks = seed_networks(self)
        return self._networks
