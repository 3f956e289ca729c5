"""Through the proxy, each cloud is reached with its own registered credentials, and only
those: the clouds' request logs say whose token each request carried."""

import dataclasses

from openstackoid.registry import Credentials
from openstackoid.testbed import Caller
from tests.federation import Federation, grant_fleet_admin

SCOPE = "{keystone: cloud-1; glance: cloud-2 & cloud-3}"


async def test_each_cloud_gets_a_token_of_its_own_admin(federation: Federation) -> None:
    headers = await federation.scoped(SCOPE)
    federation.bed.clear_requests()
    async with federation.session.get(f"{federation.url}/image/v2/images", headers=headers) as r:
        assert r.status == 200
        ids = {i["id"] for i in (await r.json())["images"]}
    bed = federation.bed
    assert ids == {bed.cloud("cloud-2").image_id, bed.cloud("cloud-3").image_id}
    for name in ("cloud-2", "cloud-3"):
        listed = [r for r in bed.requests(name) if r.path == "/image/v2/images"]
        assert [r.caller for r in listed] == [Caller(name, "admin", "admin")]
    # The caller's own token was validated by its issuer, cloud-1, and went nowhere else.
    validations = [r for r in bed.requests("cloud-1") if r.method == "GET"]
    assert validations and all(r.caller == Caller("cloud-1", "admin", "admin") for r in validations)


async def test_another_cloud_s_password_is_refused(federation: Federation) -> None:
    bed, registry = federation.bed, federation.registry
    two = bed.cloud("cloud-2")
    wrong = Credentials(two.username, two.password, two.project_name)  # cloud-2's, for cloud-3
    registry.upsert(dataclasses.replace(registry.get("cloud-3"), credentials=wrong))
    grant_fleet_admin(federation.rules, registry.get("cloud-3"))  # the mapped credential too
    headers = await federation.scoped("{keystone: cloud-1; glance: cloud-3}")
    bed.clear_requests()
    async with federation.session.get(f"{federation.url}/image/v2/images", headers=headers) as r:
        assert r.status == 403, await r.text()
        assert "cloud-3" in (await r.json())["error"]["message"]
    logins = [r for r in bed.requests("cloud-3") if r.path == "/identity/v3/auth/tokens"]
    assert len(logins) == 1 and logins[0].method == "POST"
    assert not [r for r in bed.requests("cloud-3") if r.path.startswith("/image")]
