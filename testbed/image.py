"""Glance v2: discovery, images CRUD, filters, pagination and streamed image data."""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from openstackoid.testbed.model import CloudState
from openstackoid.testbed.paging import (
    GLANCE_MAX_LIMIT,
    PagingError,
    after_marker,
    glance_links,
    parse_limit,
)
from openstackoid.testbed.policy import CALLER, is_admin
from openstackoid.testbed.responses import CHUNK, glance_error, json_response

_READ_ONLY = frozenset(
    {
        "id",
        "status",
        "size",
        "virtual_size",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "created_at",
        "updated_at",
        "self",
        "file",
        "schema",
        "owner",
        "direct_url",
        "locations",
    }
)
DEFAULT_LIMIT = 25


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_image(owner: str, image_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    now = _now()
    image: dict[str, Any] = {
        "id": image_id,
        "name": None,
        "status": "queued",
        "visibility": "shared",
        "protected": False,
        "os_hidden": False,
        "tags": [],
        "container_format": None,
        "disk_format": None,
        "min_disk": 0,
        "min_ram": 0,
        "size": None,
        "virtual_size": None,
        "checksum": None,
        "os_hash_algo": None,
        "os_hash_value": None,
        "owner": owner,
        "created_at": now,
        "updated_at": now,
        "self": f"/v2/images/{image_id}",
        "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
    }
    image.update(fields)
    return image


def seed_images(cloud: CloudState) -> dict[str, dict[str, Any]]:
    data = f"cirros image held by {cloud.name}\n".encode() * 64
    image = _new_image(
        cloud.project_id,
        cloud.info.image_id,
        {
            "name": "cirros",
            "status": "active",
            "visibility": "public",
            "container_format": "bare",
            "disk_format": "raw",
            "size": len(data),
            "checksum": hashlib.md5(data, usedforsecurity=False).hexdigest(),
            "os_hash_algo": "sha512",
            "os_hash_value": hashlib.sha512(data).hexdigest(),
            "_data": data,
        },
    )
    return {image["id"]: image}


def public_view(image: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in image.items() if not k.startswith("_")}


async def versions(request: web.Request, cloud: CloudState) -> web.Response:
    href = f"{cloud.info.base_url}/image/v2/"
    values = [
        {
            "id": f"v2.{minor}",
            "status": "CURRENT" if minor == 16 else "SUPPORTED",
            "links": [{"rel": "self", "href": href}],
        }
        for minor in (16, 15, 9, 0)
    ]
    return json_response({"versions": values}, status=300)


def _visible(request: web.Request, image: dict[str, Any]) -> bool:
    """Glance shows public and community images to all, others to their owner or an admin."""
    if image.get("visibility") in ("public", "community") or is_admin(request):
        return True
    return bool(image.get("owner") == request[CALLER].project_id)


def _listed(request: web.Request, image: dict[str, Any]) -> bool:
    # Community images are listed only when asked for by visibility=community.
    if image.get("visibility") == "community" and not is_admin(request):
        return request.query.get("visibility") == "community"
    return _visible(request, image)


def _matches(image: dict[str, Any], query: dict[str, str]) -> bool:
    for key in ("name", "status", "visibility", "owner", "disk_format", "container_format"):
        if key in query and str(image.get(key)) != query[key]:
            return False
    return not image.get("os_hidden") or query.get("os_hidden") == "true"


async def list_images(request: web.Request, cloud: CloudState) -> web.Response:
    query = dict(request.query)
    try:
        limit = parse_limit(query, DEFAULT_LIMIT, GLANCE_MAX_LIMIT)
    except PagingError as exc:
        return glance_error(exc.status, str(exc))
    assert limit is not None
    filters = {k: v for k, v in query.items() if k not in ("limit", "marker")}
    images = [
        img for img in cloud.images.values() if _matches(img, filters) and _listed(request, img)
    ]
    images.sort(key=lambda img: (img["created_at"], img["id"]), reverse=True)
    rest = after_marker(images, query.get("marker"))
    if rest is None:
        return glance_error(400, f"marker {query.get('marker')} could not be found")
    page = rest[:limit]
    body: dict[str, Any] = {
        "images": [public_view(img) for img in page],
        **glance_links("/v2/images", query, page, limit),
        "schema": "/v2/schemas/images",
    }
    return json_response(body)


async def create_image(request: web.Request, cloud: CloudState) -> web.Response:
    try:
        fields = await request.json()
    except ValueError:
        return glance_error(400, "Malformed JSON in request body.")
    if not isinstance(fields, dict):
        return glance_error(400, "Expected an object in the request body.")
    forbidden = sorted(set(fields) & (_READ_ONLY - {"id"}))
    if forbidden:
        return glance_error(403, f"Attribute '{forbidden[0]}' is read-only.")
    image_id = str(fields.pop("id", None) or uuid.uuid4())
    if image_id in cloud.images:
        return glance_error(409, f"Image with identifier {image_id} already exists!")
    owner = request[CALLER].project_id or cloud.project_id
    image = _new_image(owner, image_id, {k: v for k, v in fields.items() if not k.startswith("_")})
    cloud.images[image_id] = image
    return json_response(public_view(image), 201, {"Location": f"{request.url}/{image_id}"})


def _find(request: web.Request, cloud: CloudState, image_id: str) -> dict[str, Any] | None:
    image = cloud.images.get(image_id)
    return image if image is not None and _visible(request, image) else None


def _may_change(request: web.Request, image: dict[str, Any]) -> bool:
    return is_admin(request) or image.get("owner") == request[CALLER].project_id


async def show_image(request: web.Request, cloud: CloudState) -> web.Response:
    image = _find(request, cloud, request.match_info["image_id"])
    if image is None:
        return glance_error(404, f"No image found with ID {request.match_info['image_id']}")
    return json_response(public_view(image))


async def delete_image(request: web.Request, cloud: CloudState) -> web.Response:
    image = _find(request, cloud, request.match_info["image_id"])
    if image is None:
        return glance_error(404, f"Failed to find image {request.match_info['image_id']} to delete")
    if not _may_change(request, image):
        return glance_error(403, "You are not permitted to delete this image.")
    del cloud.images[image["id"]]
    if path := image.get("_path"):
        Path(path).unlink(missing_ok=True)
    return web.Response(status=204)


async def update_image(request: web.Request, cloud: CloudState) -> web.Response:
    """PATCH with application/openstack-images-v2.1-json-patch (add/replace/remove)."""
    image = _find(request, cloud, request.match_info["image_id"])
    if image is None:
        return glance_error(404, f"No image found with ID {request.match_info['image_id']}")
    if not _may_change(request, image):
        return glance_error(403, "You are not permitted to modify this image.")
    try:
        operations = await request.json()
    except ValueError:
        return glance_error(400, "Malformed JSON in request body.")
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        return glance_error(400, "A JSON-patch body is a list of operation objects.")
    for op in operations:
        key = str(op.get("path", "")).lstrip("/")
        if key in _READ_ONLY or not key:
            return glance_error(403, f"Attribute '{key}' is read-only.")
        if op.get("op") in ("add", "replace"):
            image[key] = op.get("value")
        elif op.get("op") == "remove":
            image.pop(key, None)
    image["updated_at"] = _now()
    return json_response(public_view(image))


async def upload(request: web.Request, cloud: CloudState, data_dir: Path) -> web.Response:
    """Stream the body to a file, hashing as it goes: memory stays constant."""
    image = _find(request, cloud, request.match_info["image_id"])
    if image is None:
        return glance_error(404, f"No image found with ID {request.match_info['image_id']}")
    if not _may_change(request, image):
        return glance_error(403, "You are not permitted to upload data for this image.")
    if image["status"] != "queued":
        return glance_error(409, "Image status transition from active to saving is not allowed")
    md5 = hashlib.md5(usedforsecurity=False)
    sha512 = hashlib.sha512()
    size = 0
    fd, path = tempfile.mkstemp(dir=data_dir, prefix=f"{cloud.name}-")
    with os.fdopen(fd, "wb") as out:
        async for chunk in request.content.iter_chunked(CHUNK):
            md5.update(chunk)
            sha512.update(chunk)
            out.write(chunk)
            size += len(chunk)
    image.update(
        status="active",
        size=size,
        virtual_size=size,
        checksum=md5.hexdigest(),
        os_hash_algo="sha512",
        os_hash_value=sha512.hexdigest(),
        _path=path,
        updated_at=_now(),
    )
    return web.Response(status=204)


async def download(request: web.Request, cloud: CloudState) -> web.StreamResponse:
    image = _find(request, cloud, request.match_info["image_id"])
    if image is None:
        return glance_error(404, f"No image found with ID {request.match_info['image_id']}")
    if image["status"] != "active":
        return web.Response(status=204)
    headers = {"Content-Type": "application/octet-stream", "Content-MD5": image["checksum"]}
    if "_data" in image:
        return web.Response(body=image["_data"], headers=headers)
    response = web.StreamResponse(headers=headers)
    response.content_length = image["size"]
    await response.prepare(request)
    sent = 0
    with open(image["_path"], "rb") as source:
        while chunk := source.read(CHUNK):
            if cloud.faults.reset_mid_body and sent >= image["size"] // 2:
                if request.transport is not None:
                    request.transport.abort()  # the peer sees a reset, not a clean end
                return response
            try:
                await response.write(chunk)
            except ConnectionError:
                return response  # the client went away: nothing to log, as Glance
            sent += len(chunk)
    await response.write_eof()
    return response


async def info(request: web.Request, cloud: CloudState) -> web.Response:
    kind = request.match_info["kind"]
    if kind == "import":
        return json_response(
            {
                "import-methods": {
                    "description": "Import methods available.",
                    "type": "array",
                    "value": ["glance-direct", "web-download"],
                }
            }
        )
    if kind == "stores":
        return json_response({"stores": [{"id": "file", "default": True}]})
    return glance_error(404, f"Unknown info {kind}")
