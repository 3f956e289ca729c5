"""The rules a proxy starts with: files then SQLite, later ones winning; a cloud's own
account as a target credential stops the start; where admin API changes persist."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from openstackoid.proxy import ProxyConfig
from openstackoid.proxy.identity.rules_source import load_rules, rule_store_for
from openstackoid.registry import Cloud, Credentials, InvalidRuleError, Registry, rule_from_data
from openstackoid.registry.rule_store import MemoryRuleStore, SqliteRuleStore
from openstackoid.registry.rule_store_postgres import PostgresRuleStore

REGISTRY = Registry(
    [
        Cloud("cloud-1", "http://127.0.0.1:1/identity/v3"),
        Cloud("cloud-2", "http://127.0.0.1:2/identity/v3",
              credentials=Credentials("admin", "pw", "admin")),
    ]
)  # fmt: skip


def _rule(priority: int) -> dict[str, object]:
    return {"name": "r", "priority": priority, "match": {"issuer": "cloud-1"},
            "targets": "cloud-2", "credential": "reader"}  # fmt: skip


def _clouds_yaml(path: Path, credential: dict[str, str], priority: int) -> Path:
    document = {
        "clouds": {},
        "openstackoid": {
            "target_credentials": [{"cloud": "cloud-2", "name": "reader", **credential}],
            "mapping_rules": [_rule(priority)],
        },
    }
    path.write_text(yaml.safe_dump(document))
    return path


APP = {"application_credential_id": "ac", "application_credential_secret": "s"}


async def test_sqlite_rules_win_over_the_clouds_yaml(tmp_path: Path) -> None:
    db = tmp_path / "reg.sqlite"
    store = SqliteRuleStore(db)
    await store.upsert_rule(rule_from_data(_rule(5)))
    await store.close()
    config = ProxyConfig(clouds_yaml=str(_clouds_yaml(tmp_path / "c.yaml", APP, 50)),
                         registry_db=str(db))  # fmt: skip
    book = await load_rules(config, REGISTRY)
    (rule,) = book.rules()
    assert rule.priority == 5 and book.credential("cloud-2", "reader") is not None


async def test_a_clouds_own_account_stops_the_start(tmp_path: Path) -> None:
    own = {"username": "admin", "password": "pw", "project_name": "admin"}
    config = ProxyConfig(clouds_yaml=str(_clouds_yaml(tmp_path / "c.yaml", own, 50)))
    with pytest.raises(InvalidRuleError, match="account the cloud is registered with"):
        await load_rules(config, REGISTRY)


async def test_no_source_no_rule(tmp_path: Path) -> None:
    assert len(await load_rules(ProxyConfig(), REGISTRY)) == 0


def test_admin_api_changes_persist_beside_the_clouds(tmp_path: Path) -> None:
    assert isinstance(rule_store_for(ProxyConfig()), MemoryRuleStore)
    sqlite = rule_store_for(ProxyConfig(registry_db=str(tmp_path / "r.sqlite")))
    assert isinstance(sqlite, SqliteRuleStore)
    pg = ProxyConfig(registry_dsn="postgresql://nobody@127.0.0.1:1/x")
    assert isinstance(rule_store_for(pg), PostgresRuleStore)
