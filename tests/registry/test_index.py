import pytest

from openstackoid.registry import Cloud, Registry, UnknownCloudError
from openstackoid.scope_dsl import CloudGlob, CloudRef, GroupSelector, LabelSelector


def _fleet(n: int) -> Registry:
    return Registry(
        Cloud(
            f"cloud-{i}",
            f"http://127.0.0.1:{9000 + i}/identity/v3",
            labels={"region": "eu" if i % 2 else "us"},
            groups=frozenset({"edge" if i > 1 else "core"}),
        )
        for i in range(1, n + 1)
    )


def test_lookup_by_name_and_selectors() -> None:
    registry = _fleet(10)
    assert registry.get("cloud-3").name == "cloud-3"
    assert [c.name for c in registry.select(LabelSelector("region", "eu"))] == [
        f"cloud-{i}" for i in (1, 3, 5, 7, 9)
    ]
    assert [c.name for c in registry.select(GroupSelector("core"))] == ["cloud-1"]
    assert [c.name for c in registry.select(CloudGlob("cloud-1*"))] == ["cloud-1", "cloud-10"]
    assert registry.select(CloudRef("cloud-2")) == (registry.get("cloud-2"),)
    assert registry.select(GroupSelector("nope")) == ()


def test_unknown_cloud_names_the_closest() -> None:
    registry = _fleet(20)
    with pytest.raises(UnknownCloudError) as info:
        registry.get("cloud-999")
    assert info.value.name == "cloud-999"
    assert "cloud-9" in info.value.suggestions
    assert "Unknown cloud 'cloud-999'" in str(info.value)
    assert isinstance(info.value, LookupError)


def test_changes_keep_indexes_in_step() -> None:
    registry = _fleet(3)
    assert len(registry.select(LabelSelector("region", "eu"))) == 2
    registry.upsert(Cloud("cloud-1", "http://x/v3", labels={"region": "us"}))
    assert [c.name for c in registry.select(LabelSelector("region", "eu"))] == ["cloud-3"]
    registry.remove("cloud-3")
    assert registry.select(LabelSelector("region", "eu")) == ()
    assert "cloud-3" not in registry and len(registry) == 2
    with pytest.raises(UnknownCloudError):
        registry.remove("cloud-3")


def test_selections_are_cached_until_a_change() -> None:
    registry = _fleet(5)
    first = registry.select(CloudGlob("cloud-*"))
    assert registry.select(CloudGlob("cloud-*")) is first
    registry.upsert(Cloud("cloud-6", "http://x/v3"))
    assert len(registry.select(CloudGlob("cloud-*"))) == 6
