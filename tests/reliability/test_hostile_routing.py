"""Issue 15, where requests may go: discovered endpoints stay on the cloud's own host, the
proxy never calls itself, and what crosses it is what the cloud should see (no X-Scope, no
hop-by-hop header, forwarding headers by a stated policy, no method OpenStack does not use).
Whatever a client sends, no token reaches a log."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from aiohttp import web

from openstackoid.registry import Cloud, Credentials
from tests.federation import Federation, FederationFactory
from tests.reliability.conftest import (
    SERVICE_TOKEN,
    Outside,
    ServeFactory,
    register,
    token_body,
)
from tests.reliability.hostile_peers import BOUND, head, raw_exchange, status_of

PASSTHROUGH = {"identity_strategy": "passthrough"}


def _keystone_naming(image_url: str) -> list[web.RouteDef]:
    """A Keystone whose catalog puts the image service at `image_url`."""

    async def issue(request: web.Request) -> web.Response:
        body = token_body()
        url = f"{request.scheme}://{request.host}"
        body["token"]["catalog"] = [  # type: ignore[index]
            {
                "type": "identity",
                "endpoints": [{"interface": "public", "url": f"{url}/identity/v3"}],
            },
            {"type": "image", "endpoints": [{"interface": "public", "url": image_url}]},
        ]
        return web.json_response(body, status=201, headers={"X-Subject-Token": SERVICE_TOKEN})

    return [web.post("/identity/v3/auth/tokens", issue)]


def _discovering(name: str, keystone: Outside, **extra: object) -> Cloud:
    """A cloud registered by its auth_url alone: its endpoints come from its catalog."""
    return Cloud(
        name,
        f"{keystone.url}/identity/v3",
        credentials=Credentials("admin", "pw", "admin"),
        **extra,  # type: ignore[arg-type]
    )


async def _get(federation: Federation, path: str, headers: dict[str, str]) -> tuple[int, str]:
    timeout = aiohttp.ClientTimeout(total=BOUND / 3)
    async with federation.session.get(
        f"{federation.url}{path}", headers=headers, timeout=timeout
    ) as resp:
        return resp.status, await resp.text()


async def test_a_discovered_endpoint_off_the_clouds_host_is_refused(
    make_federation: FederationFactory, serve: ServeFactory, evil: Outside
) -> None:
    """A catalog naming the testbed's control port let a token "anything" change faults."""
    federation = await make_federation(**PASSTHROUGH)
    keystone = await serve(_keystone_naming(f"{evil.url}/image"))
    federation.registry.upsert(_discovering("rogue", keystone))
    status, text = await _get(
        federation, "/image/v2/images", {"X-Auth-Token": "anything", "X-Scope": "{glance: rogue}"}
    )
    assert status == 502 and "rogue" in text and "allowed_hosts" in text, (status, text[:300])
    assert not evil.seen


async def test_the_operator_may_allow_other_hosts_for_a_cloud(
    make_federation: FederationFactory, serve: ServeFactory, evil: Outside
) -> None:
    federation = await make_federation(**PASSTHROUGH)
    keystone = await serve(_keystone_naming(f"{evil.url}/image"))
    where = evil.url.removeprefix("http://")
    federation.registry.upsert(_discovering("split", keystone, allowed_hosts=(where,)))
    status, text = await _get(
        federation, "/image/v2/images", {"X-Auth-Token": "t", "X-Scope": "{glance: split}"}
    )
    assert status == 200, text[:300]
    assert [s.path_qs for s in evil.seen] == ["/image/v2/images"]


async def _image_requests(federation: Federation) -> float:
    async with federation.session.get(f"{federation.url}/metrics") as resp:
        text = await resp.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("openstackoid_requests_total{") and 'service="image"' in line
    )


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "discovered"])
async def test_the_proxy_never_calls_itself(
    make_federation: FederationFactory, serve: ServeFactory, declared: bool
) -> None:
    """A catalog naming the proxy looped 64 hops deep."""
    federation = await make_federation(**PASSTHROUGH)
    itself = f"{federation.url}/image"
    if declared:  # even an operator's own endpoint may not point back at the proxy
        cloud = Cloud("loop", f"{federation.url}/identity/v3", endpoints={"image": itself})
    else:
        keystone = await serve(_keystone_naming(itself))
        where = federation.url.removeprefix("http://")
        cloud = _discovering("loop", keystone, allowed_hosts=(where,))
    federation.registry.upsert(cloud)
    headers = {"X-Auth-Token": "t", "X-Scope": "{glance: loop}"}
    status, text = await _get(federation, "/image/v2/images", headers)
    assert status in (502, 508) and "loop" in text, (status, text[:300])
    await federation.session.get(f"{federation.url}/metrics")  # folds the counts in
    assert await _image_requests(federation) <= 2  # the request, at most one hop back


async def test_the_scope_header_stays_with_the_proxy(federation: Federation) -> None:
    headers = await federation.scoped("{keystone: cloud-1; glance: cloud-2 | cloud-3}")
    federation.bed.clear_requests()
    status, text = await _get(federation, "/image/v2/images", headers)
    assert status == 200, text[:300]
    seen = [r for c in federation.bed.clouds for r in federation.bed.requests(c.name)]
    assert seen and all("x-scope" not in r.header_names for r in seen), seen


async def _spy_headers(
    make_federation: FederationFactory, serve: ServeFactory, sent: dict[str, str]
) -> dict[str, str]:
    """The headers a cloud receives for a GET carrying `sent`."""
    federation = await make_federation(**PASSTHROUGH)

    async def listing(request: web.Request) -> web.Response:
        return web.json_response({"images": []})

    spy = await serve([web.get("/image/v2/images", listing)])
    register(federation, "spy", spy)
    status, text = await _get(
        federation, "/image/v2/images", {"X-Auth-Token": "t", "X-Scope": "{glance: spy}", **sent}
    )
    assert status == 200, text[:300]
    return {k.lower(): v for k, v in spy.seen[-1].headers.items()}


async def test_headers_named_in_connection_are_not_forwarded(
    make_federation: FederationFactory, serve: ServeFactory
) -> None:
    """RFC 9110 7.6.1: Connection names headers meant for this hop only."""
    seen = await _spy_headers(
        make_federation,
        serve,
        {"Connection": "keep-alive, X-Hop-Secret, x-other", "X-Hop-Secret": "s", "X-Other": "o"},
    )
    assert "x-hop-secret" not in seen and "x-other" not in seen, seen


async def test_forwarding_headers_are_appended_to_and_hosts_dropped(
    make_federation: FederationFactory, serve: ServeFactory
) -> None:
    """docs/hostile.md: the client's address is appended to X-Forwarded-For and Forwarded;
    X-Forwarded-Host/-Proto/-Port are dropped (a cloud would build links on them)."""
    seen = await _spy_headers(
        make_federation,
        serve,
        {
            "X-Forwarded-For": "203.0.113.7",
            "Forwarded": "for=203.0.113.7",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
        },
    )
    assert seen["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert seen["forwarded"] == "for=203.0.113.7, for=127.0.0.1"
    assert "x-forwarded-host" not in seen and "x-forwarded-proto" not in seen


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "FOO", "TRACK"])
async def test_methods_openstack_does_not_use_are_refused(
    federation: Federation, method: str
) -> None:
    """TRACE went to the cloud (CONNECT: test_ssrf). Methods llhttp knows get the proxy's
    405; those it does not (FOO) are aiohttp's 400 before any handler: no cloud sees them."""
    federation.bed.clear_requests()
    answer = await raw_exchange(
        federation, head(method, "/image/v2/images", "X-Scope: {glance: cloud-2}")
    )
    if method in ("FOO", "TRACK"):
        assert status_of(answer) == 400
    else:
        assert status_of(answer) == 405, answer[:300]
        assert b"Allow: " in answer and b"GET" in answer
        assert method.encode() in answer.partition(b"\r\n\r\n")[2]
    assert not federation.bed.requests("cloud-2")


@pytest.mark.parametrize(
    "line",
    ["X-Auth-Token: {token}\x7f", "X-Auth-Token: {token}\x00", "X-Auth-Token\x01: {token}"],
    ids=["del", "nul", "bad-name"],
)
async def test_no_token_reaches_a_log_whatever_the_request(
    federation: Federation, caplog: pytest.LogCaptureFixture, line: str
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "gAAAAAB-secret-token-0123456789"
    answer = await raw_exchange(
        federation, head("GET", "/image/v2/images", line.format(token=token))
    )
    assert status_of(answer) == 400
    assert caplog.records, "the refusal is still logged"
    assert token not in caplog.text
    # aiohttp's 400 quotes the offending line back to its sender only: no log, no cloud.


@pytest.mark.parametrize(
    "scope",
    [
        "{keystone: cloud-1; glance: cloud-2 | cloud-3}",
        "{keystone: cloud-1 | cloud-2; glance: cloud-2 | cloud-3}",
    ],
)
async def test_a_failover_whose_issuer_refuses_the_token_is_a_401(
    federation: Federation, scope: str
) -> None:
    """It was a 502 "no cloud answered", as if the clouds had failed."""
    status, text = await _get(
        federation, "/image/v2/images", {"X-Scope": scope, "X-Auth-Token": "not-a-token"}
    )
    assert status == 401 and "cloud-1" in text, (status, text[:300])
