"""Keystone's /v3/endpoints and /v3/services answers pointing at the proxy, as the token's
catalog does (rewrite_catalog.py): `openstack endpoint list|show` shows no cloud's own URL.

An endpoint names its service by id, not type, so the cloud's /v3/services is read beside
it (same token, same cloud) to learn each endpoint's type. Service types the scope names and
the cloud lacks appear as the token catalog adds them: service `openstackoid-<type>` with
its three endpoints `openstackoid-<type>-<interface>`.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict

from openstackoid.proxy.buffered import Buffered
from openstackoid.proxy.request import ProxyRequest
from openstackoid.proxy.routing import upstream_url
from openstackoid.proxy.service_root import proxy_endpoint
from openstackoid.proxy.services import IDENTITY, SERVICES
from openstackoid.registry import Cloud

if TYPE_CHECKING:
    from openstackoid.proxy.executor import Executor

_PATH = re.compile(r"/v3/(endpoints|services)(?:/([^/]+))?/?")
INTERFACES = ("public", "internal", "admin")
SYNTHETIC = "openstackoid-"


def is_catalog_resource(request: ProxyRequest) -> bool:
    return (
        request.service_type == IDENTITY
        and request.method == "GET"
        and _PATH.fullmatch(request.path) is not None
    )


async def catalog_resource(executor: Executor, request: ProxyRequest, cloud: Cloud) -> Buffered:
    """The cloud's answer, every URL in it the proxy's, the scope's extra services added."""
    match = _PATH.fullmatch(request.path)
    assert match is not None
    kind, one = match.groups()
    answer = executor.finish(request, await executor.buffer(request, cloud))
    if answer.status not in (200, 404):
        return answer
    whole_list = kind == "services" and one is None and not request.query
    types = _types(answer.body) if whole_list else await _services_of(executor, request, cloud)
    if types is None:
        return answer  # the cloud would not tell its services: nothing to add or map
    document = _object(answer.body)
    region = _region(document, kind)
    extra = _synthetic(kind, request, _missing_types(request, types), region)
    if answer.status == 404:
        row = extra.get(one) if one else None
        return _json(answer, {kind[:-1]: row}) if row is not None else answer
    if document is None:
        return answer
    if kind == "endpoints":
        for endpoint in _rows(document, kind):
            service_type = types.get(str(endpoint.get("service_id")))
            if service_type and isinstance(endpoint.get("url"), str):
                endpoint["url"] = proxy_endpoint(request.public_url, service_type, endpoint["url"])
    if one is None and isinstance(document.get(kind), list):
        document[kind] += [r for r in extra.values() if _matches(r, request)]
    return _json(answer, document)


async def _services_of(
    executor: Executor, request: ProxyRequest, cloud: Cloud
) -> dict[str, str] | None:
    """The cloud's whole /v3/services, asked with the caller's token."""
    url = upstream_url(cloud, IDENTITY, "/v3/services")
    services = await executor.buffer(request, cloud, query="", url=url)
    return _types(services.body) if services.status == 200 else None


def _object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _types(body: bytes) -> dict[str, str] | None:
    """service id -> type, from a /v3/services answer."""
    document = _object(body)
    if document is None or not isinstance(document.get("services"), list):
        return None
    return {
        str(r["id"]): str(r["type"])
        for r in document["services"]
        if isinstance(r, dict) and "id" in r and "type" in r
    }


def _region(document: dict[str, Any] | None, kind: str) -> str:
    """The cloud's region, as rewrite_catalog takes the issuer's for what it adds."""
    for row in _rows(document, kind) if document is not None else []:
        if row.get("region_id"):
            return str(row["region_id"])
    return "RegionOne"


def _missing_types(request: ProxyRequest, types: dict[str, str]) -> list[str]:
    return sorted(request.scoped_types - set(types.values()) - {"*"})


def _rows(document: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    rows = document.get(kind)
    if not isinstance(rows, list):
        rows = [document.get(kind[:-1])]
    return [r for r in rows if isinstance(r, dict)]


def _synthetic(
    kind: str, request: ProxyRequest, types: list[str], region: str
) -> dict[str, dict[str, Any]]:
    """The services, or endpoints, the token catalog adds for `types`, by id."""
    base = f"{request.public_url.rstrip('/')}/{IDENTITY}/v3/{kind}"
    rows: dict[str, dict[str, Any]] = {}
    for service_type in types:
        service_id = f"{SYNTHETIC}{service_type}"
        if kind == "services":
            rows[service_id] = {
                "id": service_id,
                "type": service_type,
                "name": service_type,
                "enabled": True,
                "links": {"self": f"{base}/{service_id}"},
            }
            continue
        known = SERVICES.get(service_type)
        url = f"{request.public_url.rstrip('/')}/{service_type}"
        url += known.version_suffix if known else ""
        for interface in INTERFACES:
            endpoint_id = f"{service_id}-{interface}"
            rows[endpoint_id] = {
                "id": endpoint_id,
                "interface": interface,
                "region": region,
                "region_id": region,
                "service_id": service_id,
                "url": url,
                "enabled": True,
                "links": {"self": f"{base}/{endpoint_id}"},
            }
    return rows


def _matches(row: dict[str, Any], request: ProxyRequest) -> bool:
    """Keystone's list filters, applied to the rows the proxy adds."""
    params = request.params
    return all(
        str(row.get(key)) == params[key]
        for key in ("interface", "service_id", "region_id", "type", "name")
        if key in params
    )


def _json(answer: Buffered, document: dict[str, Any]) -> Buffered:
    """A 200 with `document`, the cloud's other headers kept."""
    headers = CIMultiDict(answer.headers)
    headers.popall("Content-Length", None)
    headers["Content-Type"] = "application/json"
    body = json.dumps(document).encode()
    return Buffered(answer.cloud, 200, answer.with_body(body, headers).headers, body, answer.root)
