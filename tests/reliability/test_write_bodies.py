"""Malformed and huge bodies sent to write endpoints, through a single cloud (streamed) and
through `|` failover (buffered to be replayed; streamed to one member when too big): a clear
4xx (the proxy's own in OpenStack's JSON shape, the cloud's relayed as it words it), never a
5xx, and the proxy keeps serving."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.federation import Federation

SCOPE = "{keystone: cloud-1; glance: cloud-2; nova: cloud-1; neutron: cloud-1}"
FAILOVER = "{keystone: cloud-1; glance: cloud-2 | cloud-3; neutron: cloud-2 | cloud-3}"
BAD_BODIES = [b"{not json", b"\xff\xfe\x00", b"", b"null", b"42", b'"text"']


def _message(answer: object) -> str:
    """error.message of Keystone's shape, or <fault>.message of Nova's and Glance's."""
    assert isinstance(answer, dict) and len(answer) == 1, answer
    detail = next(iter(answer.values()))
    assert isinstance(detail, dict) and detail["message"], answer
    return str(detail["message"])


@pytest.mark.parametrize("scope", [SCOPE, FAILOVER])
@pytest.mark.parametrize(
    ("method", "path", "wrong_shape"),
    [
        ("POST", "/image/v2/images", b'["name"]'),
        ("PATCH", "/image/v2/images/{image}", b'[{"op": "replace"}, 42]'),
        ("POST", "/network/v2.0/networks", b'{"network": 42}'),
        ("POST", "/identity/v3/auth/tokens", b'{"auth": {"identity": 42}}'),
    ],
)
async def test_malformed_json_to_write_endpoints_is_a_clear_4xx(
    federation: Federation, scope: str, method: str, path: str, wrong_shape: bytes
) -> None:
    headers = await federation.scoped(scope)
    path = path.format(image=federation.bed.cloud("cloud-2").image_id)
    for body in [*BAD_BODIES, wrong_shape]:
        async with federation.session.request(
            method,
            f"{federation.url}{path}",
            data=body,
            headers={**headers, "Content-Type": "application/json"},
        ) as resp:
            assert 400 <= resp.status < 500, (body, resp.status, await resp.text())
            if resp.content_type == "application/json":
                _message(await resp.json())
            else:  # Glance words some refusals in plain text, as the real one does
                assert (await resp.text()).startswith(f"{resp.status} ")
    async with federation.session.get(f"{federation.url}/image/v2/images", headers=headers) as r:
        assert r.status == 200


async def _chunks(size: int) -> AsyncIterator[bytes]:
    block = b"x" * 65536
    for _ in range(size // len(block)):
        yield block


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_too_big_to_replay_streams_to_the_first_member_only(
    federation: Federation, chunked: bool
) -> None:
    """Failover holds a body to replay it on the next cloud only within max_replay_bytes
    (1 MiB), or a client could make the proxy hold any amount of memory. A bigger one streams
    to the first member that takes it (streamed_failover.py): the cloud judges it."""
    headers = {**await federation.scoped(FAILOVER), "Content-Type": "application/json"}
    federation.bed.clear_requests()
    size = 4 * 1024 * 1024
    data = _chunks(size) if chunked else b"x" * size
    async with federation.session.post(
        f"{federation.url}/image/v2/images", data=data, headers=headers
    ) as resp:
        assert 400 <= resp.status < 500, await resp.text()  # the cloud's refusal of "xxx..."
        assert "max_replay_bytes" not in await resp.text()
    images = "/image/v2/images"
    assert [r.method for r in federation.bed.requests("cloud-2") if r.path == images] == ["POST"]
    assert not [r for r in federation.bed.requests("cloud-3") if r.path == images]
    # Within the bound the body is replayed as before: the cloud judges it.
    async with federation.session.post(
        f"{federation.url}/image/v2/images", json={"name": "ok"}, headers=headers
    ) as resp:
        assert resp.status == 201
