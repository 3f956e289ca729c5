"""The proxy's registry from its configured sources, later ones winning."""

from pathlib import Path

from openstackoid.proxy.config import ProxyConfig
from openstackoid.proxy.registry_source import load_registry
from openstackoid.registry import Cloud, SqliteStore
from openstackoid.testbed import Testbed


async def test_clouds_yaml_then_the_database(testbed: Testbed, tmp_path: Path) -> None:
    clouds_yaml = testbed.write_clouds_yaml(tmp_path / "clouds.yaml")
    store = SqliteStore(str(tmp_path / "registry.db"))
    await store.upsert(Cloud("cloud-2", "http://elsewhere/identity/v3"))
    await store.upsert(Cloud("cloud-9", "http://nine/identity/v3"))
    await store.close()
    config = ProxyConfig(clouds_yaml=str(clouds_yaml), registry_db=str(tmp_path / "registry.db"))
    registry = await load_registry(config)
    assert sorted(c.name for c in registry) == ["cloud-1", "cloud-2", "cloud-3", "cloud-9"]
    assert registry.get("cloud-2").auth_url == "http://elsewhere/identity/v3"
    assert registry.get("cloud-1").auth_url == testbed.cloud("cloud-1").auth_url
