"""Point every endpoint of a Keystone token's catalog at the proxy."""

from __future__ import annotations

from typing import Any

from openstackoid.proxy.service_root import proxy_endpoint
from openstackoid.proxy.services import SERVICES


def rewrite_catalog(
    catalog: list[dict[str, Any]], public_url: str, scoped_types: frozenset[str]
) -> list[dict[str, Any]]:
    """Every endpoint URL becomes `<proxy>/<service_type><version suffix>`; scoped service
    types the issuer's catalog lacks are added, in the issuer's region."""
    regions: list[str] = []
    seen: set[str] = set()
    for service in catalog:
        service_type = str(service.get("type", ""))
        seen.add(service_type)
        for endpoint in service.get("endpoints") or []:
            endpoint["url"] = proxy_endpoint(public_url, service_type, str(endpoint.get("url", "")))
            if region := endpoint.get("region_id") or endpoint.get("region"):
                regions.append(str(region))
    region = regions[0] if regions else "RegionOne"
    for service_type in sorted(scoped_types - seen - {"*"}):
        known = SERVICES.get(service_type)
        suffix = known.version_suffix if known else ""
        url = f"{public_url.rstrip('/')}/{service_type}{suffix}"
        catalog.append(
            {
                "id": f"openstackoid-{service_type}",
                "type": service_type,
                "name": service_type,
                "endpoints": [
                    {
                        "id": f"openstackoid-{service_type}-{iface}",
                        "interface": iface,
                        "region": region,
                        "region_id": region,
                        "url": url,
                    }
                    for iface in ("public", "internal", "admin")
                ],
            }
        )
    return catalog
