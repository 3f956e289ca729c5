"""`openstackoid registry ...` against a SQLite file."""

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from openstackoid.cli import main
from openstackoid.registry import SqliteStore


def _clouds_yaml(path: Path, count: int) -> Path:
    clouds = {
        f"edge-{i}": {
            "auth": {
                "auth_url": f"http://10.0.{i // 256}.{i % 256}:5000/v3",
                "username": "u",
                "password": "p",
                "project_name": "admin",
            },
            "region_name": "RegionOne",
            "openstackoid": {"labels": {"site": f"s{i % 7}"}, "groups": ["edge"]},
        }
        for i in range(count)
    }
    path.write_text(yaml.safe_dump({"clouds": clouds}))
    return path


async def test_import_list_show_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "reg.sqlite")
    source = _clouds_yaml(tmp_path / "clouds.yaml", 2000)

    async def cli(*argv: str) -> int:
        # main() runs its own event loop: give it a thread of its own.
        return await asyncio.to_thread(main, ["registry", "--db", db, *argv])

    assert await cli("import", str(source)) == 0
    clouds = await SqliteStore(db).load_all()
    by_name = {c.name: c for c in clouds}
    assert len(by_name) == 2000 and by_name["edge-5"].labels == {"site": "s5"}
    capsys.readouterr()
    assert await cli("show", "edge-5") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["name"] == "edge-5" and "p" not in shown.values()
    assert await cli("add", "core-1", "--auth-url", "http://k:5000/v3", "--label", "tier=core") == 0
    assert (await SqliteStore(db).get("core-1")) is not None
    assert await cli("remove", "edge-5") == 0
    assert await cli("remove", "edge-5") == 1
    assert await cli("add", "bad name", "--auth-url", "http://k") == 1  # schema: name pattern
    assert len(await SqliteStore(db).load_all()) == 2000
