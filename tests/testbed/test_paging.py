"""The simulated Glance, Nova and Neutron page as the real ones do, over HTTP."""

from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from openstackoid.testbed import Testbed, admin_auth_body


async def _session_token(session: aiohttp.ClientSession, bed: Testbed) -> dict[str, str]:
    cloud = bed.cloud("cloud-1")
    async with session.post(f"{cloud.auth_url}/auth/tokens", json=admin_auth_body(cloud)) as r:
        return {"X-Auth-Token": r.headers["X-Subject-Token"]}


async def _get(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    async with session.get(url, headers=headers) as resp:
        if resp.content_type != "application/json":
            return resp.status, await resp.text()  # Glance's plain-text errors
        return resp.status, await resp.json()


async def test_glance_links_next_on_every_full_page(testbed: Testbed) -> None:
    image = testbed.cloud("cloud-1").endpoints["image"]
    async with aiohttp.ClientSession() as session:
        headers = await _session_token(session, testbed)
        for n in range(2):
            url = f"{image}/v2/images"
            async with session.post(url, json={"name": f"i{n}"}, headers=headers) as resp:
                assert resp.status == 201
        status, body = await _get(session, f"{image}/v2/images?limit=3&name=i0", headers)
        assert status == 200 and len(body["images"]) == 1 and "next" not in body
        assert body["first"] == "/v2/images?limit=3&name=i0"
        status, body = await _get(session, f"{image}/v2/images?limit=3", headers)
        assert len(body["images"]) == 3  # full: a next page, though nothing is left
        assert body["next"] == f"/v2/images?limit=3&marker={body['images'][-1]['id']}"
        status, body = await _get(session, f"{image}{body['next']}", headers)
        assert status == 200 and body["images"] == [] and "next" not in body
        status, body = await _get(session, f"{image}/v2/images?marker=nope", headers)
        assert status == 400 and "marker" in body


async def test_nova_honours_limit_and_marker_with_servers_links(testbed: Testbed) -> None:
    cloud = testbed.cloud("cloud-1")
    compute = cloud.endpoints["compute"]
    async with aiohttp.ClientSession() as session:
        headers = await _session_token(session, testbed)
        created = []
        for n in range(3):
            server = {"server": {"name": f"vm{n}", "imageRef": cloud.image_id, "flavorRef": "1"}}
            async with session.post(f"{compute}/servers", json=server, headers=headers) as resp:
                assert resp.status == 202, await resp.text()
                created.append((await resp.json())["server"]["id"])
        status, body = await _get(session, f"{compute}/servers?limit=2", headers)
        assert [s["id"] for s in body["servers"]] == created[::-1][:2]  # newest first
        (link,) = body["servers_links"]
        assert link["rel"] == "next"
        assert link["href"] == f"{compute}/servers?limit=2&marker={created[1]}"
        status, body = await _get(session, link["href"], headers)
        assert [s["id"] for s in body["servers"]] == [created[0]]
        assert "servers_links" not in body
        status, body = await _get(session, f"{compute}/servers/detail", headers)
        assert len(body["servers"]) == 3 and "servers_links" not in body
        status, body = await _get(session, f"{compute}/servers?marker=nope", headers)
        assert status == 400 and body["badRequest"]["message"] == "marker [nope] not found"
        status, body = await _get(session, f"{compute}/flavors?limit=1", headers)
        assert [f["id"] for f in body["flavors"]] == ["1"]
        assert parse_qs(urlsplit(body["flavors_links"][0]["href"]).query)["marker"] == ["1"]


async def test_neutron_pages_only_when_asked_with_next_and_previous(testbed: Testbed) -> None:
    network = testbed.cloud("cloud-1").endpoints["network"]
    async with aiohttp.ClientSession() as session:
        headers = await _session_token(session, testbed)
        for n in range(2):
            body = {"network": {"name": f"n{n}"}}
            async with session.post(f"{network}/v2.0/networks", json=body, headers=headers) as r:
                assert r.status == 201
        status, body = await _get(session, f"{network}/v2.0/networks", headers)
        assert len(body["networks"]) == 3 and "networks_links" not in body
        ids = sorted(n["id"] for n in body["networks"])
        status, body = await _get(session, f"{network}/v2.0/networks?limit=2", headers)
        assert [n["id"] for n in body["networks"]] == ids[:2]
        links = {link["rel"]: link["href"] for link in body["networks_links"]}
        assert set(links) == {"next", "previous"}
        assert parse_qs(urlsplit(links["next"]).query) == {"limit": ["2"], "marker": [ids[1]]}
        previous = parse_qs(urlsplit(links["previous"]).query)
        assert previous == {"limit": ["2"], "marker": [ids[0]], "page_reverse": ["True"]}
        status, body = await _get(session, links["next"], headers)
        assert [n["id"] for n in body["networks"]] == ids[2:]
        assert [link["rel"] for link in body["networks_links"]] == ["previous"]
        back = f"{network}/v2.0/networks?limit=2&marker={ids[2]}&page_reverse=True"
        status, body = await _get(session, back, headers)
        assert [n["id"] for n in body["networks"]] == ids[:2]
        status, body = await _get(session, f"{network}/v2.0/networks?limit=2&marker=x", headers)
        assert status == 404 and body["NeutronError"]["type"] == "NetworkNotFound"
        status, body = await _get(session, f"{network}/v2.0/security-groups?limit=5", headers)
        assert body["security_groups"] == []
