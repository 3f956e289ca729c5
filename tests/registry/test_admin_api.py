"""The admin API, mounted in the proxy, over real HTTP."""

from pathlib import Path

import aiohttp

from openstackoid.proxy import ProxyConfig, running_proxy
from openstackoid.registry import Cloud, Registry, SqliteStore

ADMIN = {"X-Admin-Token": "let-me-in"}
BODY = {
    "auth_url": "http://127.0.0.1:1/identity/v3",
    "labels": {"region": "eu"},
    "credentials": {"username": "u", "password": "hunter2"},
}


async def test_admin_api_changes_the_registry_and_the_store(tmp_path: Path) -> None:
    registry = Registry([Cloud("cloud-1", "http://127.0.0.1:2/identity/v3")])
    db = tmp_path / "registry.sqlite"
    config = ProxyConfig(admin_token="let-me-in", registry_db=str(db))
    async with running_proxy(config, registry) as url, aiohttp.ClientSession() as session:
        base = f"{url}/_openstackoid/admin/clouds"
        async with session.put(f"{base}/edge-7", json=BODY, headers=ADMIN) as resp:
            assert resp.status == 201
            created = await resp.json()
        assert "hunter2" not in str(created) and created["cloud"]["has_credentials"] is True
        assert registry.get("edge-7").labels == {"region": "eu"}
        assert [c.name for c in await SqliteStore(db).load_all()] == ["edge-7"]
        async with session.get(f"{base}?label=region=eu", headers=ADMIN) as resp:
            assert [c["name"] for c in (await resp.json())["clouds"]] == ["edge-7"]
        async with session.get(f"{base}?limit=1", headers=ADMIN) as resp:
            page = await resp.json()
            assert [c["name"] for c in page["clouds"]] == ["cloud-1"] and "next" in page
        async with session.delete(f"{base}/edge-7", headers=ADMIN) as resp:
            assert resp.status == 204
        assert "edge-7" not in registry
        async with session.get(f"{base}/edge-8", headers=ADMIN) as resp:
            assert resp.status == 404


async def test_admin_api_requires_the_token_and_valid_bodies() -> None:
    config = ProxyConfig(admin_token="let-me-in")
    async with running_proxy(config, Registry()) as url, aiohttp.ClientSession() as session:
        base = f"{url}/_openstackoid/admin/clouds"
        for headers in ({}, {"X-Admin-Token": "wrong"}):
            async with session.get(base, headers=headers) as resp:
                assert resp.status == 401
                assert resp.content_type == "application/json"
                assert await resp.json() == {
                    "error": {
                        "code": 401,
                        "title": "Unauthorized",
                        "message": "The admin API requires a valid X-Admin-Token header.",
                    }
                }
        async with session.put(f"{base}/x", json={"auth_url": "ftp://x"}, headers=ADMIN) as resp:
            assert resp.status == 400
            assert "auth_url" in (await resp.json())["error"]["message"]
        async with session.put(f"{base}/x", data=b"{", headers=ADMIN) as resp:
            assert resp.status == 400


async def test_no_admin_token_no_admin_api() -> None:
    async with running_proxy(ProxyConfig(), Registry()) as url, aiohttp.ClientSession() as session:
        async with session.get(f"{url}/_openstackoid/admin/clouds", headers=ADMIN) as resp:
            assert resp.status == 404
