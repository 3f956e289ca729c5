"""Clouds as frozen values."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Credentials:
    """How the proxy authenticates to a cloud. Secrets never appear in repr."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    project_name: str | None = None
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    application_credential_id: str | None = None
    application_credential_secret: str | None = field(default=None, repr=False)

    @property
    def is_application_credential(self) -> bool:
        return self.application_credential_id is not None

    def keystone_auth_body(self) -> dict[str, Any]:
        """The body of POST /v3/auth/tokens for these credentials."""
        if self.is_application_credential:
            identity: dict[str, Any] = {
                "methods": ["application_credential"],
                "application_credential": {
                    "id": self.application_credential_id,
                    "secret": self.application_credential_secret,
                },
            }
            return {"auth": {"identity": identity}}
        identity = {
            "methods": ["password"],
            "password": {
                "user": {
                    "name": self.username,
                    "domain": {"name": self.user_domain_name},
                    "password": self.password,
                }
            },
        }
        project = {"name": self.project_name, "domain": {"name": self.project_domain_name}}
        scope = {"project": project}
        return {"auth": {"identity": identity, "scope": scope}}


def _intern_mapping(values: Mapping[str, str]) -> Mapping[str, str]:
    # Thousands of clouds repeat the same label keys and values: intern them to save memory.
    if not values:
        return _EMPTY
    return MappingProxyType({sys.intern(k): sys.intern(v) for k, v in values.items()})


@dataclass(frozen=True, slots=True)
class Cloud:
    """One OpenStack cloud the proxy can reach."""

    name: str
    auth_url: str
    region_name: str | None = None
    interface: str = "public"
    endpoints: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Service type -> catalog URL; empty means: discover from the cloud's Keystone."""
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    groups: frozenset[str] = frozenset()
    verify: bool = True
    cacert: str | None = None
    credentials: Credentials | None = None
    allowed_hosts: frozenset[str] = frozenset()
    """Hosts (`host` for any port, or `host:port`) besides the auth_url's where endpoints
    discovered from the cloud's catalog may be: by default a catalog naming another host
    is refused (it could send the proxy, and a token, anywhere)."""

    def __post_init__(self) -> None:
        if not self.name or not self.auth_url:
            from openstackoid.registry.errors import InvalidCloudError

            raise InvalidCloudError("a cloud needs a name and an auth_url")
        object.__setattr__(self, "endpoints", MappingProxyType(dict(self.endpoints)))
        object.__setattr__(self, "labels", _intern_mapping(self.labels))
        object.__setattr__(self, "groups", frozenset(sys.intern(g) for g in self.groups))
        if self.region_name is not None:
            object.__setattr__(self, "region_name", sys.intern(self.region_name))
        object.__setattr__(self, "interface", sys.intern(self.interface))
        object.__setattr__(self, "allowed_hosts", frozenset(self.allowed_hosts))

    def to_dict(self, *, with_secrets: bool = False) -> dict[str, Any]:
        """A JSON-ready view; secrets only when asked (storage), never for the admin API."""
        data: dict[str, Any] = {
            "name": self.name,
            "auth_url": self.auth_url,
            "region_name": self.region_name,
            "interface": self.interface,
            "endpoints": dict(self.endpoints),
            "labels": dict(self.labels),
            "groups": sorted(self.groups),
            "verify": self.verify,
            "cacert": self.cacert,
        }
        if with_secrets and self.credentials is not None:
            creds = self.credentials
            data["credentials"] = {
                "username": creds.username,
                "password": creds.password,
                "project_name": creds.project_name,
                "user_domain_name": creds.user_domain_name,
                "project_domain_name": creds.project_domain_name,
                "application_credential_id": creds.application_credential_id,
                "application_credential_secret": creds.application_credential_secret,
            }
        else:
            data["has_credentials"] = self.credentials is not None
        if self.allowed_hosts:
            data["allowed_hosts"] = sorted(self.allowed_hosts)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cloud:
        creds = data.get("credentials")
        return cls(
            name=data["name"],
            auth_url=data["auth_url"],
            region_name=data.get("region_name"),
            interface=data.get("interface") or "public",
            endpoints=data.get("endpoints") or {},
            labels=data.get("labels") or {},
            groups=frozenset(data.get("groups") or ()),
            verify=bool(data.get("verify", True)),
            cacert=data.get("cacert"),
            credentials=Credentials(**creds) if creds else None,
            allowed_hosts=frozenset(data.get("allowed_hosts") or ()),
        )
