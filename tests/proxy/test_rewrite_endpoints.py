"""`openstack endpoint list|show`, `service list` and `catalog list` through the proxy: every
URL the user sees is the proxy's, as in the token's catalog; the clouds' own stay hidden."""

import json
from pathlib import Path
from typing import Any

import pytest

from openstackoid.cli_plugin.demo import client_clouds_yaml
from openstackoid.testbed.cli_runner import run_openstack
from tests.federation import FederationFactory

pytestmark = pytest.mark.e2e

SCOPE = "{keystone: cloud-1; glance: cloud-2; dns: cloud-3}"
"""dns: a service the clouds lack, added to the token catalog; image from another cloud."""


async def _json(clouds_yaml: Path, cloud: str, *args: str) -> Any:
    code, out, err = await run_openstack(
        "--os-cloud", cloud, *args, "-f", "json", clouds_yaml=clouds_yaml
    )
    assert code == 0, err
    return json.loads(out)


async def test_every_endpoint_a_user_sees_points_at_the_proxy(
    make_federation: FederationFactory, tmp_path: Path
) -> None:
    fed = await make_federation(clouds=3)
    one = fed.bed.cloud("cloud-1")
    # Straight to cloud-1 (no proxy): its Keystone lists its own URLs, as Keystone does.
    fleet = fed.bed.write_clouds_yaml(tmp_path / "fleet.yaml")
    direct = await _json(fleet, "cloud-1", "endpoint", "list")
    assert len(direct) == 12 and all(str(one.port) in e["URL"] for e in direct)
    client = client_clouds_yaml(fed.url, tmp_path / "client.yaml", one)
    listed = await _json(client, "openstackoid", "endpoint", "list", "--scope", SCOPE)
    by_type: dict[str, set[str]] = {}
    for endpoint in listed:
        by_type.setdefault(endpoint["Service Type"], set()).add(endpoint["URL"])
    assert by_type == {
        "identity": {f"{fed.url}/identity/v3"},
        "image": {f"{fed.url}/image"},
        "compute": {f"{fed.url}/compute/v2.1"},
        "network": {f"{fed.url}/network"},
        "dns": {f"{fed.url}/dns"},
    }
    assert len(listed) == 15
    image = next(e for e in listed if e["Service Type"] == "image" and e["Interface"] == "public")
    shown = await _json(client, "openstackoid", "endpoint", "show", image["ID"], "--scope", SCOPE)
    assert shown["url"] == f"{fed.url}/image" and shown["service_type"] == "image"
    shown = await _json(
        client, "openstackoid", "endpoint", "show", "openstackoid-dns-admin", "--scope", SCOPE
    )
    assert shown["url"] == f"{fed.url}/dns" and shown["interface"] == "admin"
    filtered = await _json(
        client, "openstackoid", "endpoint", "list", "--service", "dns", "--scope", SCOPE
    )
    assert {e["ID"] for e in filtered} == {
        f"openstackoid-dns-{i}" for i in ("public", "internal", "admin")
    }
    services = await _json(client, "openstackoid", "service", "list", "--scope", SCOPE)
    assert {s["Type"] for s in services} == {"identity", "image", "compute", "network", "dns"}
    catalog = await _json(client, "openstackoid", "catalog", "list", "--scope", SCOPE)
    urls = [e["url"] for entry in catalog for e in entry["Endpoints"]]
    assert len(urls) == 15 and all(url.startswith(f"{fed.url}/") for url in urls)
    ports = {str(c.port) for c in fed.bed.clouds}
    everything = json.dumps([listed, services, catalog])
    assert not [p for p in ports if f":{p}/" in everything]
