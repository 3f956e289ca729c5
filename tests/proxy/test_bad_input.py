"""Bad input gets a clear 4xx in OpenStack's error shape; the proxy keeps serving."""

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openstackoid.testbed import Faults
from tests.federation import Federation

HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)


async def _status(fed: Federation, scope: str) -> tuple[int, dict[str, object]]:
    async with fed.session.get(f"{fed.url}/image/v2/images", headers={"X-Scope": scope}) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_fuzzed_scopes_never_cause_a_5xx(federation: Federation) -> None:
    seen: list[int] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(scope=HEADER_TEXT)
    def check(scope: str) -> None:
        seen.append(len(scope))
        pending.append(scope)

    pending: list[str] = []
    check()
    for scope in pending:
        status, body = await _status(federation, scope)
        # 401: a valid scope reaches the cloud, which wants a token.
        assert status in (400, 401), (scope, status, body)
        assert isinstance(body.get("error"), dict) and body["error"]["message"]
    assert len(seen) == 150
    status, _ = await _status(federation, "{glance: cloud-1}")
    assert status == 401  # still serving, and the cloud's own answer came back


async def test_selectors_matching_nothing_or_everything(federation: Federation) -> None:
    status, body = await _status(federation, "{glance: @nowhere}")
    assert status == 400 and "matches no registered cloud" in str(body)
    status, _ = await _status(federation, "{glance: cloud-*}")
    assert status == 401  # all three clouds asked, each wants a token


async def test_unknown_service_prefix_and_huge_header(federation: Federation) -> None:
    async with federation.session.get(f"{federation.url}/nonsense/x") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == 404
    async with federation.session.get(
        f"{federation.url}/image/v2/images", headers={"X-Scope": "{glance: " + "a" * 9000 + "}"}
    ) as resp:
        assert resp.status in (400, 431)


async def test_invalid_token_is_refused_by_its_issuer(federation: Federation) -> None:
    scope = "{keystone: cloud-1; glance: cloud-2}"
    headers = {"X-Scope": scope, "X-Auth-Token": "not-a-token"}
    async with federation.session.get(f"{federation.url}/image/v2/images", headers=headers) as resp:
        assert resp.status == 401
        assert "cloud-1" in (await resp.json())["error"]["message"]
    # cloud-2 never saw the bogus token nor any request.
    assert not federation.bed.requests("cloud-2")


async def test_tokens_and_passwords_never_reach_the_logs(
    federation: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = await federation.token("{keystone: cloud-1; glance: cloud-2}")
    await federation.bed.set_faults("cloud-2", Faults(outage=True))
    headers = {"X-Scope": "{keystone: cloud-1; glance: cloud-2}", "X-Auth-Token": token}
    async with federation.session.get(f"{federation.url}/image/v2/images", headers=headers) as resp:
        assert resp.status == 502
    assert caplog.records, "the 502 should have been logged"
    assert token not in caplog.text and "secret" not in caplog.text


async def test_an_invalid_scope_is_not_remembered_for_the_token(federation: Federation) -> None:
    """A typo in X-Scope is the one request's 400; the token's calls without the header
    keep their remembered scope."""
    scope = "{keystone: cloud-1; glance: cloud-2}"
    token = await federation.token(scope)
    images = f"{federation.url}/image/v2/images"
    bad = {"X-Auth-Token": token, "X-Scope": "{glance: cloud-2"}
    async with federation.session.get(images, headers=bad) as resp:
        assert resp.status == 400
    async with federation.session.get(images, headers={"X-Auth-Token": token}) as resp:
        assert resp.status == 200, await resp.text()
        listed = (await resp.json())["images"]
    assert [i["id"] for i in listed] == [federation.bed.cloud("cloud-2").image_id]
