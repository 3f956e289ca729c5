"""The registry's own YAML file format, validated by registry-schema.json."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from openstackoid.registry.errors import InvalidCloudError
from openstackoid.registry.model import Cloud
from openstackoid.registry.yaml_io import dump_yaml, load_yaml


@cache
def _schema() -> dict[str, Any]:
    text = resources.files("openstackoid.registry").joinpath("registry-schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(_schema())


@cache
def _cloud_validator() -> jsonschema.protocols.Validator:
    defs = _schema()["$defs"]
    return jsonschema.Draft202012Validator({**defs["cloud"], "$defs": defs})


def validate_cloud(data: Any) -> Cloud:
    """One cloud definition (admin API body, registry file item) as a Cloud."""
    error = jsonschema.exceptions.best_match(_cloud_validator().iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "cloud"
        raise InvalidCloudError(f"invalid cloud definition at {where}: {error.message}")
    return Cloud.from_dict(data)


def load_registry_file(path: str | Path) -> list[Cloud]:
    """Every cloud of a registry YAML file; the first schema error is reported with its path."""
    document = load_yaml(Path(path).read_text())
    error = jsonschema.exceptions.best_match(_validator().iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "document"
        raise InvalidCloudError(f"{path}: invalid registry file at {where}: {error.message}")
    return [Cloud.from_dict(item) for item in document["clouds"]]


def dump_registry_file(clouds: list[Cloud], path: str | Path) -> None:
    data = {"clouds": [c.to_dict(with_secrets=True) for c in clouds]}
    for item in data["clouds"]:
        item.pop("has_credentials", None)
    Path(path).write_text(dump_yaml(data))
