"""Import an os-client-config clouds.yaml (what users already have)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openstackoid.registry.errors import InvalidCloudError
from openstackoid.registry.model import Cloud, Credentials
from openstackoid.registry.yaml_io import load_yaml

EXTENSION_KEY = "openstackoid"
"""openstackoid's own per-cloud data (labels, groups, endpoints) lives under this key."""


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def cloud_from_entry(name: str, entry: Mapping[str, Any]) -> Cloud:
    """One clouds.yaml entry as a Cloud."""
    auth = entry.get("auth") or {}
    auth_url = auth.get("auth_url")
    if not auth_url:
        raise InvalidCloudError(f"cloud {name!r} in clouds.yaml has no auth.auth_url")
    if not str(auth_url).startswith(("http://", "https://")):
        # As the registry file's schema and the admin API refuse it: one rule for every source.
        raise InvalidCloudError(
            f"cloud {name!r} in clouds.yaml: auth.auth_url {auth_url!r} is not an http(s) URL"
        )
    extension = entry.get(EXTENSION_KEY) or {}
    domain = auth.get("domain_name")
    credentials = Credentials(
        username=auth.get("username"),
        password=auth.get("password"),
        project_name=auth.get("project_name") or auth.get("tenant_name"),
        user_domain_name=auth.get("user_domain_name") or domain or "Default",
        project_domain_name=auth.get("project_domain_name") or domain or "Default",
        application_credential_id=auth.get("application_credential_id"),
        application_credential_secret=auth.get("application_credential_secret"),
    )
    has_credentials = credentials.username or credentials.application_credential_id
    verify = entry.get("verify", True)
    return Cloud(
        name=name,
        auth_url=str(auth_url),
        region_name=entry.get("region_name"),
        interface=entry.get("interface") or "public",
        endpoints=extension.get("endpoints") or {},
        labels={str(k): str(v) for k, v in (extension.get("labels") or {}).items()},
        groups=frozenset(str(g) for g in extension.get("groups") or ()),
        verify=bool(verify),
        cacert=entry.get("cacert"),
        credentials=credentials if has_credentials else None,
        allowed_hosts=frozenset(str(h) for h in extension.get("allowed_hosts") or ()),
    )


def load_clouds_yaml(path: str | Path, secure_path: str | Path | None = None) -> list[Cloud]:
    """Every cloud of a clouds.yaml; secrets from a secure.yaml beside it are merged in."""
    path = Path(path)
    document = load_yaml(path.read_text()) or {}
    clouds: dict[str, Any] = dict(document.get("clouds") or {})
    secure = Path(secure_path) if secure_path else path.with_name("secure.yaml")
    if secure.exists():
        secrets = (load_yaml(secure.read_text()) or {}).get("clouds") or {}
        for name, extra in secrets.items():
            if name in clouds:
                clouds[name] = _merge(clouds[name], extra)
    return [cloud_from_entry(str(name), entry or {}) for name, entry in clouds.items()]
