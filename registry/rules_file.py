"""Mapping rules and target credentials from a clouds.yaml or a registry file.

clouds.yaml (openstacksdk ignores top-level keys it does not know)::

    openstackoid:
      target_credentials: [{cloud: cloud-3, name: reader, application_credential_id: ..., ...}]
      mapping_rules: [{name: ..., match: {issuer: cloud-1, roles: member}, targets: [cloud-3],
                       credential: reader}]

registry file: the same two lists at the top level, beside `clouds`. As for the clouds, the
secrets may sit in a secure.yaml beside the clouds.yaml: its `openstackoid.target_credentials`
entries are merged into those of the same cloud and name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openstackoid.registry.errors import InvalidRuleError
from openstackoid.registry.rule_store import RuleSet
from openstackoid.registry.rules import credential_from_data, rule_from_data
from openstackoid.registry.yaml_io import load_yaml

SECTION = "openstackoid"
"""The clouds.yaml top-level key holding openstackoid's own data."""


def _items(section: Mapping[str, Any], key: str, where: str) -> list[Any]:
    items = section.get(key) or []
    if not isinstance(items, list):
        raise InvalidRuleError(f"{where}/{key}: a list is expected")
    return items


def rules_from_document(document: Any, where: str) -> RuleSet:
    """The rule set of a parsed clouds.yaml or registry file; empty when it has none."""
    if not isinstance(document, Mapping):
        return RuleSet()
    section: Any = document
    if isinstance(document.get("clouds"), Mapping):  # a clouds.yaml
        section = document.get(SECTION) or {}
        where = f"{where}: {SECTION}"
        if not isinstance(section, Mapping):
            raise InvalidRuleError(f"{where}: a mapping is expected")
    else:
        where = f"{where}:"
    rules = [
        rule_from_data(item, f"{where}/mapping_rules/{i}")
        for i, item in enumerate(_items(section, "mapping_rules", where))
    ]
    credentials = [
        credential_from_data(item, f"{where}/target_credentials/{i}")
        for i, item in enumerate(_items(section, "target_credentials", where))
    ]
    _unique([r.name for r in rules], f"{where}/mapping_rules", "rule")
    _unique(
        [f"{c.cloud}/{c.name}" for c in credentials], f"{where}/target_credentials", "credential"
    )
    return RuleSet(tuple(rules), tuple(credentials))


def _unique(keys: list[str], where: str, what: str) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise InvalidRuleError(f"{where}: {what} {key!r} is defined twice")
        seen.add(key)


def load_rules_file(path: str | Path, secure_path: str | Path | None = None) -> RuleSet:
    """The rules and credentials of a clouds.yaml (secrets merged from a secure.yaml beside
    it) or of a registry file."""
    path = Path(path)
    document = load_yaml(path.read_text())
    secure = Path(secure_path) if secure_path else path.with_name("secure.yaml")
    if isinstance(document, Mapping) and isinstance(document.get("clouds"), Mapping):
        if secure.exists():
            document = _with_secrets(document, load_yaml(secure.read_text()), str(secure))
    return rules_from_document(document, str(path))


def _with_secrets(document: Mapping[str, Any], secrets: Any, where: str) -> dict[str, Any]:
    section = secrets.get(SECTION) if isinstance(secrets, Mapping) else None
    extra = section.get("target_credentials") if isinstance(section, Mapping) else None
    if not extra:
        return dict(document)
    if not isinstance(extra, list) or not all(isinstance(e, Mapping) for e in extra):
        raise InvalidRuleError(f"{where}: {SECTION}/target_credentials: a list is expected")
    by_key = {(e.get("cloud"), e.get("name")): e for e in extra}
    ours = document.get(SECTION)
    credentials = ours.get("target_credentials") if isinstance(ours, Mapping) else None
    if not isinstance(credentials, list):
        return dict(document)
    merged = [
        {**item, **by_key.get((item.get("cloud"), item.get("name")), {})}
        if isinstance(item, Mapping)
        else item
        for item in credentials
    ]
    assert isinstance(ours, Mapping)
    return {**document, SECTION: {**ours, "target_credentials": merged}}
