"""A fan-out missing a cloud is not silent: the CLI warns on stderr (exit 0), and an
openstacksdk user gets a logged warning naming the cloud and why."""

import asyncio
import logging
from pathlib import Path

import pytest

from openstackoid.cli_plugin import connect
from openstackoid.cli_plugin.demo import client_clouds_yaml
from openstackoid.testbed import Faults
from openstackoid.testbed.cli_runner import run_openstack
from tests.federation import Federation

pytestmark = pytest.mark.e2e
FAN_OUT = "{keystone: cloud-1; glance: cloud-1 & cloud-2}"


async def test_cli_warns_of_partial_results_on_stderr(
    federation: Federation, tmp_path: Path
) -> None:
    clouds_yaml = client_clouds_yaml(
        federation.url, tmp_path / "client.yaml", federation.bed.cloud("cloud-1")
    )
    args = ("--os-cloud", "openstackoid", "image", "list", "--scope", FAN_OUT, "-f", "value")
    code, out, err = await run_openstack(*args, "-c", "ID", clouds_yaml=clouds_yaml)
    assert code == 0 and "partial results" not in err, err  # every cloud answered
    await federation.bed.set_faults("cloud-2", Faults(outage=True))
    code, out, err = await run_openstack(*args, "-c", "ID", clouds_yaml=clouds_yaml)
    assert code == 0
    assert out.split() == [federation.bed.cloud("cloud-1").image_id]
    warnings = [line for line in err.splitlines() if "partial results" in line]
    assert len(warnings) == 1, err  # once, for the listing (not for version discovery)
    assert "cloud 'cloud-2' is unreachable" in warnings[0]
    assert "/image/v2/images" in warnings[0]


async def test_sdk_logs_a_warning_once_per_failure(
    federation: Federation,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clouds_yaml = client_clouds_yaml(
        federation.url, tmp_path / "client.yaml", federation.bed.cloud("cloud-1")
    )
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml))
    await federation.bed.set_faults("cloud-2", Faults(outage=True))

    def list_twice() -> list[str]:
        conn = connect(cloud="openstackoid", scope=FAN_OUT)
        try:
            ids = [image.id for image in conn.image.images()]
            ids += [image.id for image in conn.image.images()]
            return ids
        finally:
            conn.close()

    with caplog.at_level(logging.WARNING, logger="openstackoid"):
        ids = await asyncio.to_thread(list_twice)
    assert ids == [federation.bed.cloud("cloud-1").image_id] * 2
    told = [r.getMessage() for r in caplog.records if r.name == "openstackoid"]
    assert len(told) == 1 and "cloud 'cloud-2' is unreachable" in told[0]
