"""`openstack image create --file big.img` under `{glance: cloud-2 | cloud-3}` with cloud-2
down, then with its circuit open: the image (over max_replay_bytes) lands whole in cloud-3."""

import hashlib
import json
from pathlib import Path

import pytest

from openstackoid.cli_plugin.demo import client_clouds_yaml
from openstackoid.testbed import Faults
from openstackoid.testbed.cli_runner import run_openstack
from tests.federation import FederationFactory

pytestmark = pytest.mark.e2e

SCOPE = "{keystone: cloud-1; glance: cloud-2 | cloud-3}"


@pytest.mark.parametrize(
    ("circuit_failures", "open_circuits"),
    [(100, []), (1, ["cloud-2"])],  # connection refused each time; the circuit open at once
)
async def test_a_big_image_fails_over_to_the_next_member(
    make_federation: FederationFactory,
    tmp_path: Path,
    circuit_failures: int,
    open_circuits: list[str],
) -> None:
    fed = await make_federation(clouds=3, circuit_failures=circuit_failures, circuit_cooldown=600.0)
    clouds_yaml = client_clouds_yaml(fed.url, tmp_path / "client.yaml", fed.bed.cloud("cloud-1"))
    big = tmp_path / "big.img"
    big.write_bytes(hashlib.sha512(b"seed").digest() * (3 * 1024 * 1024 // 64 + 7))
    assert big.stat().st_size > 1024 * 1024  # over max_replay_bytes: never held
    await fed.bed.set_faults("cloud-2", Faults(outage=True))
    for name in ("first", "second"):
        code, out, err = await run_openstack(
            "--os-cloud",
            "openstackoid",
            "image",
            "create",
            "--file",
            str(big),
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "--scope",
            SCOPE,
            "-f",
            "json",
            name,
            clouds_yaml=clouds_yaml,
        )
        assert code == 0, err
        assert json.loads(out)["name"] == name
        uploads = [r for r in fed.bed.requests("cloud-3") if r.method == "PUT"]
        assert uploads and uploads[-1].path.endswith("/file")
        async with fed.session.get(f"{fed.url}/_openstackoid/healthz") as resp:
            assert (await resp.json())["open_circuits"] == open_circuits
    code, out, err = await run_openstack(
        "--os-cloud",
        "openstackoid",
        "image",
        "list",
        "--long",
        "--scope",
        "{keystone: cloud-1; glance: cloud-3}",
        "-f",
        "json",
        clouds_yaml=clouds_yaml,
    )
    assert code == 0, err
    stored = {i["Name"]: i for i in json.loads(out)}
    checksum = hashlib.md5(big.read_bytes(), usedforsecurity=False).hexdigest()
    for name in ("first", "second"):
        assert stored[name]["Checksum"] == checksum and stored[name]["Size"] == big.stat().st_size
