"""Rules and credentials from a clouds.yaml (under `openstackoid:`) or a registry file."""

from __future__ import annotations

from pathlib import Path

import pytest

from openstackoid.registry import load_clouds_yaml, load_registry_file
from openstackoid.registry.errors import InvalidRuleError
from openstackoid.registry.rules_file import load_rules_file

CLOUDS_YAML = """\
clouds:
  cloud-1:
    auth: {auth_url: "http://127.0.0.1:1/identity/v3", username: admin, password: secret,
           project_name: admin}
  cloud-3:
    auth: {auth_url: "http://127.0.0.1:3/identity/v3", username: admin, password: secret,
           project_name: admin}
openstackoid:
  target_credentials:
    - cloud: cloud-3
      name: reader
      application_credential_id: ac-3
      application_credential_secret: s3cret-ac
  mapping_rules:
    - name: members-read
      match: {issuer: cloud-1, roles: member}
      targets: [cloud-3]
      credential: reader
"""

REGISTRY_FILE = """\
clouds:
  - {name: cloud-1, auth_url: "http://127.0.0.1:1/identity/v3"}
mapping_rules:
  - name: shared
    match: {issuer: "@core"}
    targets: "region=eu"
    passthrough: true
target_credentials: []
"""


def test_clouds_yaml_carries_rules_beside_its_clouds(tmp_path: Path) -> None:
    path = tmp_path / "clouds.yaml"
    path.write_text(CLOUDS_YAML)
    assert [c.name for c in load_clouds_yaml(path)] == ["cloud-1", "cloud-3"]
    loaded = load_rules_file(path)
    assert [r.name for r in loaded.rules] == ["members-read"]
    assert [c.key for c in loaded.credentials] == [("cloud-3", "reader")]


def test_registry_file_carries_rules_at_the_top(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(REGISTRY_FILE)
    assert [c.name for c in load_registry_file(path)] == ["cloud-1"]
    loaded = load_rules_file(path)
    assert loaded.rules[0].action == "passthrough" and loaded.credentials == ()


def test_a_file_without_rules_has_none(tmp_path: Path) -> None:
    path = tmp_path / "clouds.yaml"
    path.write_text("clouds: {}\n")
    assert load_rules_file(path).rules == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            CLOUDS_YAML.replace("roles: member", "role: member"),
            "clouds.yaml: openstackoid/mapping_rules/0 'members-read': match: "
            "Additional properties are not allowed ('role' was unexpected)",
        ),
        (
            CLOUDS_YAML.replace("  mapping_rules:\n", "  mapping_rules:\n    - name: x\n"),
            "clouds.yaml: openstackoid/mapping_rules/0 'x': 'match' is a required property",
        ),
        (
            CLOUDS_YAML + "    - name: members-read\n      match: {issuer: x}\n"
            "      targets: x\n      deny: true\n",
            "openstackoid/mapping_rules: rule 'members-read' is defined twice",
        ),
        (
            CLOUDS_YAML.replace("application_credential_secret: s3cret-ac", "x: 1"),
            "target_credentials/0 'reader' of cloud 'cloud-3': "
            "Additional properties are not allowed ('x' was unexpected)",
        ),
        ("clouds: {}\nopenstackoid: [1]\n", "clouds.yaml: openstackoid: a mapping is expected"),
    ],
)
def test_errors_say_what_and_where(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "clouds.yaml"
    path.write_text(text)
    with pytest.raises(InvalidRuleError) as caught:
        load_rules_file(path)
    assert message in str(caught.value), str(caught.value)
    assert "\n" not in str(caught.value)


def test_secrets_may_sit_in_a_secure_yaml_beside(tmp_path: Path) -> None:
    path = tmp_path / "clouds.yaml"
    path.write_text(CLOUDS_YAML.replace("      application_credential_secret: s3cret-ac\n", ""))
    with pytest.raises(InvalidRuleError, match="application_credential_secret is missing"):
        load_rules_file(path)
    (tmp_path / "secure.yaml").write_text(
        "openstackoid:\n  target_credentials:\n"
        "    - {cloud: cloud-3, name: reader, application_credential_secret: from-secure}\n"
    )
    (credential,) = load_rules_file(path).credentials
    assert credential.credentials.application_credential_secret == "from-secure"
