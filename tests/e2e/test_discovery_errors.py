"""The proxy's own error reaches the real CLI for every service, not keystoneauth's
"does not have any supported versions": version discovery is answered whatever the scope."""

from pathlib import Path

import pytest
import yaml

from openstackoid.cli_plugin.demo import client_clouds_yaml
from openstackoid.testbed import Faults
from openstackoid.testbed.cli_runner import run_openstack
from tests.federation import Federation, FederationFactory

pytestmark = pytest.mark.e2e

COMMANDS = {"glance": ("image", "list"), "nova": ("server", "list"), "neutron": ("network", "list")}


async def _fails(clouds_yaml: Path, service: str, expr: str) -> str:
    code, _, err = await run_openstack(
        "--os-cloud",
        "openstackoid",
        *COMMANDS[service],
        "--scope",
        f"{{keystone: cloud-1; {service}: {expr}}}",
        clouds_yaml=clouds_yaml,
    )
    assert code == 1, err
    assert "supported versions" not in err and "Failed to contact" not in err, err
    return err


def _client(fed: Federation, tmp_path: Path) -> Path:
    """The user's clouds.yaml, with the client's retries of a 503 kept but not slept on.

    openstacksdk's defaults.json sets `image_status_code_retries: 5` (no other service here
    has one), and keystoneauth retries a 503 that has no Retry-After after 0.5, 1, 2, 4 and
    8 s: 15.5 s per glance command when the cloud's circuit is open (503), which the proxy
    answers at once each time. The user's CLI pays that too (with the default 10 s cooldown
    the last retry reaches the half-open circuit); here the circuit stays open 600 s, so the
    same six requests are made, 10 ms apart. (A delay of 0 means "exponential" to
    keystoneauth.)"""
    path = client_clouds_yaml(fed.url, tmp_path / "client.yaml", fed.bed.cloud("cloud-1"))
    config = yaml.safe_load(path.read_text())
    config["clouds"]["openstackoid"]["status_code_retry_delay"] = 0.01
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("service", sorted(COMMANDS))
async def test_an_unknown_cloud_is_named_with_a_suggestion(
    make_federation: FederationFactory, tmp_path: Path, service: str
) -> None:
    fed = await make_federation(clouds=3)
    err = await _fails(_client(fed, tmp_path), service, "clod-2")
    assert "Unknown cloud 'clod-2'. Did you mean 'cloud-2'" in err


async def test_selectors_matching_nothing_are_named(
    make_federation: FederationFactory, tmp_path: Path
) -> None:
    fed = await make_federation(clouds=3)
    clouds_yaml = _client(fed, tmp_path)
    for selector in ("@nogroup", "region=mars"):
        err = await _fails(clouds_yaml, "glance", selector)
        assert f"selector {selector} matches no registered cloud" in err


@pytest.mark.parametrize("service", sorted(COMMANDS))
async def test_a_cloud_down_then_its_open_circuit_are_named(
    make_federation: FederationFactory, tmp_path: Path, service: str
) -> None:
    fed = await make_federation(clouds=3, circuit_failures=1, circuit_cooldown=600.0)
    clouds_yaml = _client(fed, tmp_path)
    await fed.bed.set_faults("cloud-2", Faults(outage=True))
    err = await _fails(clouds_yaml, service, "cloud-2")
    # Image and compute discovery (no token) already opened the circuit (one failure).
    assert "cloud 'cloud-2' is unreachable" in err or "cloud 'cloud-2' is failing" in err
    # Neutron is not discovered, and its call failed logging in to cloud-2: open the
    # circuit with a call that needs no login.
    service_type = {"glance": "image", "nova": "compute", "neutron": "network"}[service]
    scope = {"X-Scope": f"{{{service}: cloud-2}}"}
    async with fed.session.get(f"{fed.url}/{service_type}/v2/x", headers=scope) as resp:
        assert resp.status in (502, 503)
    err = await _fails(clouds_yaml, service, "cloud-2")
    assert "cloud 'cloud-2' is failing; its circuit is open" in err
