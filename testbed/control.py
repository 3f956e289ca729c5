"""The testbed's control API: change a cloud's faults at runtime over HTTP."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from openstackoid.testbed.bed import Testbed
from openstackoid.testbed.model import Faults

BED = web.AppKey("bed", Testbed)
_FIELDS = {f.name: f.type for f in dataclasses.fields(Faults)}


def _error(status: int, message: str) -> web.Response:
    title = {400: "Bad Request", 404: "Not Found"}[status]
    return web.json_response(
        {"error": {"code": status, "title": title, "message": message}}, status=status
    )


def faults_from_json(data: Any, current: Faults) -> Faults:
    """Merge a JSON object of fault fields into the current faults; ValueError if invalid."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object of fault fields")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if _FIELDS[key] in ("bool", bool):
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false")
            changes[key] = value
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key} must be a number >= 0")
            changes[key] = float(value)
    if changes.get("error_rate", 0.0) > 1:
        raise ValueError("error_rate must be between 0 and 1")
    return dataclasses.replace(current, **changes)


async def set_faults(request: web.Request) -> web.Response:
    bed = request.app[BED]
    name = request.match_info["cloud"]
    if name not in {c.name for c in bed.clouds}:
        return _error(404, f"no cloud {name!r} in this testbed")
    try:
        faults = faults_from_json(await request.json(), bed.faults(name))
    except ValueError as exc:
        return _error(400, str(exc))
    await bed.set_faults(name, faults)
    return web.json_response({"cloud": name, "faults": dataclasses.asdict(faults)})


async def list_clouds(request: web.Request) -> web.Response:
    bed = request.app[BED]
    clouds = [
        {"name": c.name, "auth_url": c.auth_url, "faults": dataclasses.asdict(bed.faults(c.name))}
        for c in bed.clouds
    ]
    return web.json_response({"clouds": clouds})


def make_control_app(bed: Testbed) -> web.Application:
    app = web.Application()
    app[BED] = bed
    app.router.add_get("/clouds", list_clouds)
    app.router.add_post("/faults/{cloud}", set_faults)
    return app
