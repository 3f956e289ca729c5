"""The table of services: every entry agrees with os-service-types, and the proxy serves
each type it lists (and no other)."""

from __future__ import annotations

import pytest

from openstackoid.proxy.services import SERVICES, Links, Service, service
from openstackoid.scope_dsl.services import official_service_type
from tests.federation import Federation


@pytest.mark.parametrize("entry", SERVICES.values(), ids=list(SERVICES))
def test_types_and_aliases_are_the_official_ones(entry: Service) -> None:
    assert entry is service(entry.type)
    assert official_service_type(entry.type) == entry.type
    for alias in entry.aliases:
        assert official_service_type(alias) == entry.type


def test_only_identity_answers_with_tokens_and_only_glance_links_relatively() -> None:
    assert [s.type for s in SERVICES.values() if s.token_paths] == ["identity"]
    assert [s.type for s in SERVICES.values() if s.links is Links.RELATIVE_NEXT] == ["image"]


async def test_the_proxy_serves_every_listed_type_and_no_other(federation: Federation) -> None:
    headers = {"X-Scope": "{*: cloud-1}"}
    for service_type in SERVICES:
        async with federation.session.get(
            f"{federation.url}/{service_type}/", headers=headers
        ) as resp:
            # Served: the cloud answers, or the proxy says the cloud lacks the endpoint.
            assert "serves no service" not in await resp.text(), service_type
    async with federation.session.get(f"{federation.url}/volume/", headers=headers) as resp:
        assert resp.status == 404
        assert "serves no service 'volume'" in (await resp.json())["error"]["message"]
