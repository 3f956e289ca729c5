"""reload_registry: a fresh read of the sources applied to the running Registry."""

from openstackoid.registry import Cloud, Registry
from openstackoid.registry.reload import reload_registry


def _cloud(name: str, url: str = "http://h/v3", **labels: str) -> Cloud:
    return Cloud(name, url, labels=labels)


def test_adds_changes_and_removes_what_the_sources_say() -> None:
    registry = Registry([_cloud("a"), _cloud("b"), _cloud("c", site="x")])
    sourced = frozenset({"a", "b", "c"})
    result = reload_registry(registry, [_cloud("a"), _cloud("c", site="y"), _cloud("d")], sourced)
    assert (result.added, result.updated, result.removed) == (("d",), ("c",), ("b",))
    assert registry.names() == ["a", "c", "d"]
    assert [c.name for c in registry.select_label("site", "y")] == ["c"]
    assert registry.select_label("site", "x") == ()
    assert result.sourced == {"a", "c", "d"}
    assert str(result) == "1 added, 1 changed, 1 removed"


def test_unchanged_clouds_are_not_touched() -> None:
    registry = Registry([_cloud("a"), _cloud("b", site="x")])
    version = registry.version
    result = reload_registry(registry, [_cloud("a"), _cloud("b", site="x")], frozenset("ab"))
    assert (result.added, result.updated, result.removed) == ((), (), ())
    assert registry.version == version  # cached selections and route plans stay valid


def test_clouds_the_sources_never_held_stay() -> None:
    """A cloud added through the admin API is not the files' to remove."""
    registry = Registry([_cloud("a"), _cloud("admin-added")])
    result = reload_registry(registry, [_cloud("b")], frozenset({"a"}))
    assert result.removed == ("a",)
    assert registry.names() == ["admin-added", "b"]
    again = reload_registry(registry, [], result.sourced)
    assert again.removed == ("b",) and registry.names() == ["admin-added"]
