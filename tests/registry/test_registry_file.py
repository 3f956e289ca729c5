from pathlib import Path

import pytest

from openstackoid.registry import (
    Cloud,
    Credentials,
    InvalidCloudError,
    load_registry_file,
    validate_cloud,
)
from openstackoid.registry.registry_file import dump_registry_file


def test_dump_then_load_round_trips(tmp_path: Path) -> None:
    clouds = [
        Cloud("a", "http://a/v3", labels={"region": "eu"}, groups=frozenset({"edge"})),
        Cloud("b", "http://b/v3", credentials=Credentials(username="u", password="p")),
    ]
    dump_registry_file(clouds, tmp_path / "reg.yaml")
    assert load_registry_file(tmp_path / "reg.yaml") == clouds


def test_schema_error_names_the_path(tmp_path: Path) -> None:
    (tmp_path / "reg.yaml").write_text("clouds:\n  - name: a\n    auth_url: ftp://nope\n")
    with pytest.raises(InvalidCloudError, match="clouds/0/auth_url"):
        load_registry_file(tmp_path / "reg.yaml")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"auth_url": "http://a"}, "'name' is a required property"),
        ({"name": "a b", "auth_url": "http://a"}, "name"),
        ({"name": "a", "auth_url": "http://a", "labels": {"k": 1}}, "labels/k"),
        ({"name": "a", "auth_url": "http://a", "bogus": 1}, "bogus"),
    ],
)
def test_validate_cloud_rejects_bad_bodies(body: dict[str, object], where: str) -> None:
    with pytest.raises(InvalidCloudError, match=where):
        validate_cloud(body)
