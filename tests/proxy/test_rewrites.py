"""The handler's hooks on answers: links to the proxy, a token's catalog, its scope kept."""

import json
import time

from multidict import CIMultiDict, CIMultiDictProxy

from openstackoid.proxy.buffered import Buffered
from openstackoid.proxy.request import ProxyRequest
from openstackoid.proxy.rewrites import AnswerHooks
from openstackoid.proxy.routing import CloudNode, RouteDecision
from openstackoid.proxy.scope_memory import ScopeMemory
from openstackoid.proxy.upstream.connection import UpstreamResponse
from openstackoid.registry import Cloud
from openstackoid.scope_dsl import parse_scope

ROOT = "http://h/identity"
SCOPE = "{keystone: cloud-1; glance: cloud-2}"
TOKEN_BODY = {
    "token": {
        "expires_at": "2999-01-01T00:00:00Z",
        "catalog": [{"type": "identity", "endpoints": [{"url": f"{ROOT}/v3"}]}],
    }
}


def _request(path: str, scope_text: str | None = SCOPE) -> ProxyRequest:
    cloud = Cloud("cloud-1", f"{ROOT}/v3")
    empty: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
    scope = parse_scope(scope_text) if scope_text else None
    decision = RouteDecision("identity", CloudNode(cloud), cloud)
    return ProxyRequest(
        "POST", path, "", empty, decision, scope, scope_text, None, "http://p", None
    )


def _token_answer() -> UpstreamResponse:
    headers = CIMultiDict({"Content-Type": "application/json", "X-Subject-Token": "tok"})
    return UpstreamResponse.complete(201, headers, json.dumps(TOKEN_BODY).encode(), ROOT)


async def test_a_token_answer_points_at_the_proxy_and_its_scope_is_remembered() -> None:
    memory = ScopeMemory()
    response = _token_answer()
    body = AnswerHooks(memory).whole(
        _request("/v3/auth/tokens"), response, json.dumps(TOKEN_BODY).encode()
    )
    catalog = json.loads(body)["token"]["catalog"]
    urls = {s["type"]: s["endpoints"][0]["url"] for s in catalog}
    assert urls["identity"] == "http://p/identity/v3"
    assert urls["image"] == "http://p/image"  # scoped, added
    assert await memory.recall("tok") == SCOPE
    assert memory._scopes[next(iter(memory._scopes))].deadline > time.monotonic() + 1e9


async def test_other_paths_and_scope_less_logins_remember_nothing() -> None:
    memory = ScopeMemory()
    hooks = AnswerHooks(memory)
    raw = json.dumps(TOKEN_BODY).encode()
    assert hooks.whole(_request("/v3/users"), _token_answer(), raw) == raw.replace(
        ROOT.encode(), b"http://p/identity"
    )
    hooks.whole(_request("/v3/auth/tokens", None), _token_answer(), raw)
    assert len(memory) == 0


def test_a_buffered_answer_has_its_links_rewritten_unless_encoded() -> None:
    hooks = AnswerHooks(ScopeMemory())
    request = _request("/v3/users")
    headers = CIMultiDictProxy(CIMultiDict({"Location": f"{ROOT}/v3/users/1"}))
    answer = Buffered("cloud-1", 201, headers, f'"{ROOT}/v3"'.encode(), ROOT)
    done = hooks.links(request, answer)
    assert done.headers["Location"] == "http://p/identity/v3/users/1"
    assert done.body == b'"http://p/identity/v3"'
    gzipped = Buffered(
        "cloud-1",
        200,
        CIMultiDictProxy(CIMultiDict({"Content-Encoding": "gzip"})),
        ROOT.encode(),
        ROOT,
    )
    assert hooks.links(request, gzipped).body == ROOT.encode()
    made = Buffered("", 200, headers, ROOT.encode())
    assert hooks.links(request, made) is made  # the proxy's own answer: no cloud root
