"""`openstackoid registry import` takes a file's mapping rules with its clouds, or nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from openstackoid.cli import main
from openstackoid.registry import SqliteStore
from openstackoid.registry.rule_store import SqliteRuleStore
from tests.registry.test_rules_file import CLOUDS_YAML


async def _cli(db: Path, *argv: str) -> int:
    # main() runs its own event loop: give it a thread of its own.
    return await asyncio.to_thread(main, ["registry", "--db", str(db), *argv])


async def test_import_stores_rules_beside_clouds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "reg.sqlite"
    source = tmp_path / "clouds.yaml"
    source.write_text(CLOUDS_YAML)
    assert await _cli(db, "import", str(source)) == 0
    stored = await SqliteRuleStore(db).load()
    assert [r.name for r in stored.rules] == ["members-read"]
    assert [c.key for c in stored.credentials] == [("cloud-3", "reader")]
    capsys.readouterr()
    assert await _cli(db, "rules") == 0
    out = capsys.readouterr().out
    assert "members-read" in out and "reader@cloud-3" in out and "s3cret" not in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            (
                "application_credential_id: ac-3\n      application_credential_secret: s3cret-ac",
                "username: admin\n      password: secret\n      project_name: admin",
            ),
            "is the account the cloud is registered with",
        ),
        (("credential: reader", "credential: writer"), "credential 'writer' is registered at none"),
        (("cloud: cloud-3", "cloud: cloud-33"), "no cloud 'cloud-33'"),
    ],
)
async def test_a_bad_rule_file_imports_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], message: str
) -> None:
    db = tmp_path / "reg.sqlite"
    source = tmp_path / "clouds.yaml"
    source.write_text(CLOUDS_YAML.replace(*change))
    assert await _cli(db, "import", str(source)) == 1
    assert message in " ".join(capsys.readouterr().out.split())
    assert await SqliteStore(db).load_all() == []
    assert (await SqliteRuleStore(db).load()).rules == ()
