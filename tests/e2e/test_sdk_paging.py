"""openstacksdk pages a fanned-out listing to its end, on Glance, Nova and Neutron.

After a page without a `next` link the SDK asks once more with the last item's id as a raw
marker (as real clouds answer an empty page to it): the proxy must end the listing there,
whatever the limit, every item once, in scope order."""

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openstackoid.cli_plugin import connect
from openstackoid.cli_plugin.demo import client_clouds_yaml
from tests.federation import Federation, FederationFactory

pytestmark = pytest.mark.e2e

CLOUDS = ("cloud-1", "cloud-2", "cloud-3")
EXTRA = {"cloud-1": 3, "cloud-2": 0, "cloud-3": 1}
"""Items created in each cloud beside its own: uneven, one cloud with none of its own."""
FAN_OUT = "{keystone: cloud-1; glance: cloud-1 & cloud-2 & cloud-3; nova: cloud-1 & cloud-2 & cloud-3; neutron: cloud-1 & cloud-2 & cloud-3}"  # noqa: E501
Lister = Callable[[Any, int | None], Iterable[Any]]
LISTINGS: dict[str, Lister] = {
    "images": lambda conn, limit: conn.image.images(limit=limit),
    "servers": lambda conn, limit: conn.compute.servers(limit=limit),
    "flavors": lambda conn, limit: conn.compute.flavors(limit=limit),  # same ids in every cloud
    "networks": lambda conn, limit: conn.network.networks(limit=limit),
}


async def _populate(fed: Federation) -> None:
    for cloud in CLOUDS:
        scope = f"{{keystone: {cloud}; glance: {cloud}; nova: {cloud}; neutron: {cloud}}}"
        headers = await fed.scoped(scope)
        for n in range(EXTRA[cloud]):
            for path, body in (
                ("/image/v2/images", {"name": f"img-{n}"}),
                ("/network/v2.0/networks", {"network": {"name": f"net-{n}"}}),
                (
                    "/compute/v2.1/servers",
                    {
                        "server": {
                            "name": f"vm-{n}",
                            "imageRef": fed.bed.cloud(cloud).image_id,
                            "flavorRef": "1",
                        }
                    },
                ),
            ):
                async with fed.session.post(fed.url + path, json=body, headers=headers) as resp:
                    assert resp.status in (201, 202), await resp.text()


def _ids(items: Iterable[Any]) -> list[str]:
    return [str(item.id) for item in items]


async def test_sdk_pages_every_listing_to_its_end(
    make_federation: FederationFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fed = await make_federation(clouds=3)
    await _populate(fed)
    clouds_yaml = client_clouds_yaml(fed.url, tmp_path / "client.yaml", fed.bed.cloud("cloud-1"))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml))

    def expected() -> dict[str, list[str]]:
        """Each cloud's own listing, one cloud at a time, in scope order (paged: Neutron
        sorts a paged listing by id)."""
        whole: dict[str, list[str]] = {name: [] for name in LISTINGS}
        for cloud in CLOUDS:
            conn = connect(cloud="openstackoid", scope=f"{{keystone: cloud-1; *: {cloud}}}")
            for name, lister in LISTINGS.items():
                whole[name] += _ids(lister(conn, 100))
            conn.close()
        return whole

    whole = await asyncio.to_thread(expected)
    assert len(whole["images"]) == len(whole["networks"]) == 7
    assert len(whole["servers"]) == 4 and whole["flavors"] == ["1", "2"] * 3

    @settings(
        max_examples=12,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(name=st.sampled_from(sorted(LISTINGS)), limit=st.integers(1, 8))
    def pages_to_the_end(name: str, limit: int) -> None:
        conn = connect(cloud="openstackoid", scope=FAN_OUT)
        try:
            assert _ids(LISTINGS[name](conn, limit)) == whole[name]
        finally:
            conn.close()

    await asyncio.to_thread(pages_to_the_end)
    # Limits the property may not have drawn: every page full, one item per page.
    drawn = pages_to_the_end.hypothesis.inner_test  # type: ignore[attr-defined]
    for name, limit in (("images", 7), ("servers", 2), ("flavors", 3), ("networks", 1)):
        await asyncio.to_thread(drawn, name=name, limit=limit)
