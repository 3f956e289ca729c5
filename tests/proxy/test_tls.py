"""TLS to clouds is verified by default; a cloud's own CA bundle is honoured (trustme)."""

import socket
import ssl
from pathlib import Path

import aiohttp
import trustme
from aiohttp import web

from openstackoid.proxy import ProxyConfig, running_proxy
from openstackoid.registry import Cloud, Registry


async def _https_keystone(ca: trustme.CA) -> tuple[web.AppRunner, int]:
    async def version(request: web.Request) -> web.Response:
        return web.json_response({"version": {"id": "v3.14", "links": []}})

    app = web.Application()
    app.router.add_get("/identity/v3", version)
    app.router.add_get("/identity/v3/projects", version)  # not discovery: no stand-in
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock, ssl_context=context).start()
    return runner, sock.getsockname()[1]


async def test_cloud_ca_is_used_and_unknown_cas_are_refused(tmp_path: Path) -> None:
    ca = trustme.CA()
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    runner, port = await _https_keystone(ca)
    auth_url = f"https://127.0.0.1:{port}/identity/v3"
    registry = Registry(
        [
            Cloud("trusted", auth_url, cacert=str(cafile)),
            Cloud("untrusted", auth_url),  # verify=True, system CAs only
            Cloud("unverified", auth_url, verify=False),
        ]
    )
    try:
        async with running_proxy(ProxyConfig(), registry) as url, aiohttp.ClientSession() as s:
            statuses = {}
            for name in ("trusted", "untrusted", "unverified"):
                headers = {"X-Scope": f"{{keystone: {name}}}"}
                async with s.get(f"{url}/identity/v3/projects", headers=headers) as resp:
                    statuses[name] = resp.status
                    if resp.status == 502:
                        assert "untrusted" in (await resp.json())["error"]["message"]
        assert statuses == {"trusted": 200, "untrusted": 502, "unverified": 200}
    finally:
        await runner.cleanup()
