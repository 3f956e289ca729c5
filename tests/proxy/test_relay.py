"""Image data streams through the proxy both ways: memory stays far below the body size."""

import hashlib
import tracemalloc
from collections.abc import AsyncIterator

from tests.federation import Federation

SIZE = 48 * 1024 * 1024
CHUNK = b"\x5a" * (1024 * 1024)
SCOPE = "{keystone: cloud-1; glance: cloud-2}"


async def _body() -> AsyncIterator[bytes]:
    for _ in range(SIZE // len(CHUNK)):
        yield CHUNK


async def test_upload_and_download_stream(federation: Federation) -> None:
    token = await federation.token(SCOPE)
    headers = {"X-Auth-Token": token, "X-Scope": SCOPE}
    images = f"{federation.url}/image/v2/images"
    async with federation.session.post(
        images,
        json={"name": "big", "disk_format": "raw", "container_format": "bare"},
        headers=headers,
    ) as resp:
        assert resp.status == 201
        image_id = (await resp.json())["id"]
    tracemalloc.start()
    upload_headers = {**headers, "Content-Type": "application/octet-stream"}
    async with federation.session.put(
        f"{images}/{image_id}/file", data=_body(), headers=upload_headers
    ) as resp:
        assert resp.status == 204
    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    async with federation.session.get(f"{images}/{image_id}/file", headers=headers) as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_chunked(256 * 1024):
            digest.update(chunk)
            received += len(chunk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    expected = hashlib.md5(CHUNK * (SIZE // len(CHUNK)), usedforsecurity=False).hexdigest()
    assert received == SIZE and digest.hexdigest() == expected
    # Client, proxy and cloud share this process: all three together stay under a fifth
    # of one body's size.
    assert peak < SIZE / 5, f"peak {peak / 1e6:.1f} MB"
    assert any(r.path.endswith("/file") for r in federation.bed.requests("cloud-2"))
