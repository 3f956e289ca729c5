"""Service names to official service types, via os-service-types (`glance` -> `image`)."""

from __future__ import annotations

import difflib
from functools import cache

import os_service_types

from openstackoid.scope_dsl.ast import DEFAULT_SERVICE


@cache
def _service_types() -> os_service_types.ServiceTypes:
    # The bundled service-types authority; never fetched from the network.
    return os_service_types.ServiceTypes()


@cache
def known_names() -> tuple[str, ...]:
    """Every accepted service key: official types, their aliases and project names."""
    types = _service_types()
    names: set[str] = set(types.all_types_by_service_type)
    for service in types.services:
        names.update(service.get("aliases", ()))
        if project := service.get("project"):
            names.add(project.removeprefix("openstack/"))
    return tuple(sorted(names))


@cache
def official_service_type(name: str) -> str | None:
    """The official type for a service type, alias or project name; None if unknown."""
    if name == DEFAULT_SERVICE:
        return name
    lowered = name.lower()
    types = _service_types()
    official = types.get_service_type(lowered)
    if official:
        return str(official)
    project = types.get_service_data_for_project(lowered)
    if project:
        return str(project["service_type"])
    return None


def suggest_service(name: str) -> str | None:
    """A 'did you mean' hint for an unknown service name."""
    matches = difflib.get_close_matches(name.lower(), known_names(), n=1, cutoff=0.6)
    return f"Did you mean '{matches[0]}'?" if matches else None
