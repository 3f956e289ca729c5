"""A raw marker (the id of an item a fanned-out listing handed out) continues that listing;
an unknown one, or another caller's, is a clear 400."""

from tests.federation import Federation

CLOUDS = ("cloud-1", "cloud-2", "cloud-3")


async def test_a_raw_marker_continues_a_listing_and_an_unknown_one_is_refused(
    federation: Federation,
) -> None:
    fed = federation
    scope = "{keystone: cloud-1; glance: cloud-1 & cloud-2 & cloud-3}"
    headers = await fed.scoped(scope)
    url = f"{fed.url}/image/v2/images"
    async with fed.session.get(url, params={"limit": "1"}, headers=headers) as resp:
        first = (await resp.json())["images"]
    # The id of the page's last item, as a client would send it: the listing goes on.
    params = {"limit": "5", "marker": first[-1]["id"]}
    async with fed.session.get(url, params=params, headers=headers) as resp:
        rest = (await resp.json())["images"]
    everyone = [fed.bed.cloud(c).image_id for c in CLOUDS]
    assert [i["id"] for i in first + rest] == everyone
    # After the last page: an empty page, as a cloud answers.
    params = {"limit": "5", "marker": rest[-1]["id"]}
    async with fed.session.get(url, params=params, headers=headers) as resp:
        assert resp.status == 200 and (await resp.json()) == {"images": []}
    # Another token's listing, or an id never handed out: a clear 400.
    other = await fed.scoped(scope)
    for marker, token in ((rest[-1]["id"], other), ("bogus", headers)):
        params = {"limit": "5", "marker": marker}
        async with fed.session.get(url, params=params, headers=token) as resp:
            assert resp.status == 400
            assert "was not issued by openstackoid" in (await resp.json())["error"]["message"]
