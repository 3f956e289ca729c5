"""Issue 15, memory: what a caller without a valid token sends leaves nothing behind (no
remembered scope, no metrics series), and what is remembered is bounded by bytes."""

from __future__ import annotations

import secrets

from openstackoid.proxy.scope_memory import ScopeMemory
from tests.federation import Federation

SCOPE = "{keystone: cloud-1; glance: cloud-2}"


async def _remembered(federation: Federation) -> int:
    async with federation.session.get(f"{federation.url}/healthz") as resp:
        return int((await resp.json())["remembered_scopes"])


async def test_tokens_the_issuer_refuses_are_not_remembered(federation: Federation) -> None:
    """20,000 random tokens made 20,010 entries: any client could fill the memory."""
    before = await _remembered(federation)
    for _ in range(20):
        headers = {"X-Auth-Token": secrets.token_hex(16), "X-Scope": SCOPE}
        async with federation.session.get(
            f"{federation.url}/image/v2/images", headers=headers
        ) as resp:
            assert resp.status == 401
    assert await _remembered(federation) == before


async def test_a_scope_that_does_not_parse_is_not_remembered(federation: Federation) -> None:
    """A typo must neither be kept nor replace the scope the token was issued with."""
    token = await federation.token(SCOPE)
    before = await _remembered(federation)
    bad = {"X-Auth-Token": token, "X-Scope": "{glance: cloud-2 &}"}
    async with federation.session.get(f"{federation.url}/image/v2/images", headers=bad) as resp:
        assert resp.status == 400
    assert await _remembered(federation) == before
    # The token alone still finds its scope (Nova recovers it from the token).
    async with federation.session.get(
        f"{federation.url}/image/v2/images", headers={"X-Auth-Token": token}
    ) as resp:
        assert resp.status == 200, await resp.text()


async def test_the_memory_is_bounded_by_bytes() -> None:
    """8 KB scopes at the 100,000-token cap were ~0.85 GB."""
    memory = ScopeMemory(max_bytes=256 * 1024)
    scope = "{glance: " + " & ".join(f"cloud-{i:04}" for i in range(120)) + "}"
    for n in range(1000):
        memory.remember(f"token-{n}", scope)
    assert len(memory) * len(scope) <= 256 * 1024
    assert await memory.recall("token-999") == scope  # the newest stays


async def test_unknown_services_share_one_metrics_label(federation: Federation) -> None:
    """20,000 random paths made 20,005 series."""
    for _ in range(30):
        async with federation.session.get(f"{federation.url}/{secrets.token_hex(8)}/x") as resp:
            assert resp.status == 404
    async with federation.session.get(f"{federation.url}/image/v2/images") as resp:
        assert resp.status == 400  # no scope: a known service keeps its own label
    async with federation.session.get(f"{federation.url}/metrics") as resp:
        text = await resp.text()
    services = {
        line.split('service="', 1)[1].split('"', 1)[0]
        for line in text.splitlines()
        if line.startswith("openstackoid_requests_total{")
    }
    assert services == {"image", "unknown"}, services
