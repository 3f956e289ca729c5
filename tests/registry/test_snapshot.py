"""The local snapshot an edge proxy serves from when it starts cut off."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from openstackoid.proxy.config import ProxyConfig
from openstackoid.registry import Cloud, Credentials, RegistryError
from openstackoid.registry.snapshot import SnapshotFile, default_snapshot_path

SOURCE = "postgresql://postgres@centre:5432/fleet table openstackoid_clouds"
CLOUDS = [
    Cloud("edge-1", "http://10.0.0.1:5000/v3", credentials=Credentials(password="s3cret")),
    Cloud("edge-2", "http://10.0.0.2:5000/v3", labels={"site": "lyon"}, groups=frozenset("g")),
]


def test_a_snapshot_round_trips_with_credentials_and_is_owner_only(tmp_path: Path) -> None:
    snapshot = SnapshotFile(tmp_path / "state" / "snap.json", SOURCE)
    assert snapshot.read() is None
    snapshot.write(CLOUDS)
    read = snapshot.read()
    assert read is not None and list(read.clouds) == CLOUDS and read.source == SOURCE
    assert read.clouds[0].credentials is not None
    assert read.clouds[0].credentials.password == "s3cret"
    assert stat.S_IMODE(snapshot.path.stat().st_mode) == 0o600  # it holds credentials
    assert os.listdir(snapshot.path.parent) == ["snap.json"]  # no temporary file left


def test_a_failed_write_keeps_the_previous_snapshot(tmp_path: Path) -> None:
    snapshot = SnapshotFile(tmp_path / "snap.json", SOURCE)
    snapshot.write(CLOUDS)

    class Unserialisable(Cloud):
        def to_dict(self, *, with_secrets: bool = False) -> dict[str, object]:
            return {"name": object()}

    with pytest.raises(TypeError):
        snapshot.write([CLOUDS[0], Unserialisable("bad", "http://x/v3")])
    read = snapshot.read()
    assert read is not None and list(read.clouds) == CLOUDS
    assert os.listdir(tmp_path) == ["snap.json"]


def test_a_snapshot_of_another_store_or_a_damaged_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "snap.json"
    SnapshotFile(path, "postgresql://other/db table t").write(CLOUDS)
    with pytest.raises(RegistryError, match="not of"):
        SnapshotFile(path, SOURCE).read()
    damaged = {"format": 1, "source": SOURCE, "written_at": 1, "clouds": [{}]}
    path.write_text(json.dumps(damaged))
    with pytest.raises(RegistryError, match="damaged"):
        SnapshotFile(path, SOURCE).read()
    path.write_text("{half a docu")
    with pytest.raises(RegistryError, match="unreadable"):
        SnapshotFile(path, SOURCE).read()


def test_the_default_place_is_per_store_and_beside_a_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    one, other = default_snapshot_path(SOURCE), default_snapshot_path(SOURCE + "x")
    assert one.parent == tmp_path / "state" / "openstackoid" and one != other
    config_file = tmp_path / "etc" / "proxy.yaml"
    config_file.parent.mkdir()
    config_file.write_text("registry_dsn: postgresql://centre/fleet\n")
    config = ProxyConfig.load(config_file)
    assert config.registry_snapshot == str(tmp_path / "etc" / "registry-snapshot.json")
    chosen = ProxyConfig.load(config_file, registry_snapshot="/var/lib/o/snap.json")
    assert chosen.registry_snapshot == "/var/lib/o/snap.json"
