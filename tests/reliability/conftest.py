"""Real aiohttp servers around the federation: an `evil` host no request may ever reach, and
`outside` clouds registered in the proxy whose answers a test scripts (a rogue or spying
cloud). Each server records every request it receives, headers included."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest_asyncio
from aiohttp import web

from openstackoid.registry import Cloud, Credentials
from tests.federation import Federation, grant_fleet_admin

SERVICE_TOKEN = "outside-service-token"


@dataclass(frozen=True)
class Seen:
    method: str
    path_qs: str
    headers: dict[str, str]


@dataclass
class Outside:
    """A server on 127.0.0.1 and everything it received."""

    url: str
    seen: list[Seen] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def tokens_seen(self) -> set[str]:
        """Every token-bearing header value the server received, whatever its name."""
        names = ("x-auth-token", "x-subject-token", "x-service-token", "authorization")
        return {v for s in self.seen for k, v in s.headers.items() if k.lower() in names}


ServeFactory = Callable[[Iterable[web.RouteDef]], Awaitable[Outside]]


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[ServeFactory]:
    runners: list[web.AppRunner] = []

    async def factory(routes: Iterable[web.RouteDef]) -> Outside:
        outside = Outside("")

        @web.middleware
        async def record(
            request: web.Request,
            handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        ) -> web.StreamResponse:
            outside.seen.append(Seen(request.method, request.path_qs, dict(request.headers)))
            return await handler(request)

        app = web.Application(middlewares=[record])
        app.add_routes(routes)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
        runners.append(runner)
        outside.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return outside

    yield factory
    for runner in runners:
        await runner.cleanup()


def token_body() -> dict[str, object]:
    expires = datetime.now(UTC) + timedelta(hours=1)
    return {"token": {"expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "catalog": []}}


async def issue_token(request: web.Request) -> web.Response:
    """Keystone's POST /v3/auth/tokens, for any credentials."""
    return web.json_response(token_body(), status=201, headers={"X-Subject-Token": SERVICE_TOKEN})


@pytest_asyncio.fixture
async def evil(serve: ServeFactory) -> Outside:
    """Answers everything with a convincing 200 (a token, an image list): reaching it would
    succeed, so only its request log can tell."""

    async def anything(request: web.Request) -> web.Response:
        body = {**token_body(), "images": [{"id": "evil-image"}]}
        return web.json_response(body, headers={"X-Subject-Token": "evil-token"})

    return await serve([web.route("*", "/{tail:.*}", anything)])


def register(federation: Federation, name: str, outside: Outside) -> Cloud:
    """Register an outside server as a cloud with Keystone, Glance and Nova endpoints."""
    cloud = Cloud(
        name,
        f"{outside.url}/identity/v3",
        endpoints={
            "identity": f"{outside.url}/identity/v3",
            "image": f"{outside.url}/image",
            "compute": f"{outside.url}/compute/v2.1",
        },
        credentials=Credentials("admin", "rogue-cloud-password", "admin"),
    )
    federation.registry.upsert(cloud)
    grant_fleet_admin(federation.rules, cloud)
    return cloud
