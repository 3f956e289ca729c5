"""X-Openstackoid-Scope: the scope applied, canonical, with where it came from."""

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from openstackoid.proxy.applied_scope import APPLIED, SCOPE, SOURCE, AppliedScopes
from openstackoid.scope_dsl import parse_scope


def test_the_canonical_text_is_kept_per_scope_text_and_bounded() -> None:
    scopes = AppliedScopes(max_texts=2)
    seed = parse_scope("{keystone: cloud-1; glance: cloud-2}")
    assert scopes.canonical("{keystone: cloud-1; glance: cloud-2}", seed) == str(seed)
    assert scopes.canonical("keystone:cloud-1;glance:cloud-2", seed) == str(seed)
    other = parse_scope("cloud-3")
    assert scopes.canonical("cloud-3", other) == "{*: cloud-3}"  # full: started over
    assert len(scopes._canonical) == 1


async def test_tell_sets_both_headers_or_none() -> None:
    scopes = AppliedScopes()
    request = make_mocked_request("GET", "/image")
    response = web.Response()
    await scopes.tell(request, response)
    assert SCOPE not in response.headers  # no scope decided (an error before routing)
    request[APPLIED] = (None, parse_scope("{*: cloud-1}"), "default")
    await scopes.tell(request, response)
    assert response.headers[SCOPE] == "{*: cloud-1}"
    assert response.headers[SOURCE] == "default"
