"""The identity path's refusals: statuses and messages a caller can act on."""

from __future__ import annotations

from openstackoid.proxy.identity.errors import (
    MappedLoginFailed,
    MappedLoginRefused,
    MappedRoleRefused,
    MappingDenied,
)
from openstackoid.registry import Denial, IdentityMapping, credential_from_data
from openstackoid.registry.caller import CallerIdentity

CREDENTIAL = credential_from_data(
    {"cloud": "cloud-3", "name": "reader", "application_credential_id": "ac-3",
     "application_credential_secret": "s3cret"}
)  # fmt: skip
CALLER = CallerIdentity("cloud-1", "u-1", "demo", project_id="p-1", project_name="demo")


def test_a_denial_is_a_403_naming_issuer_user_project_and_target() -> None:
    error = MappingDenied(Denial(CALLER, "cloud-3", "no mapping rule allows it"))
    assert error.status == 403
    assert error.message == (
        "user demo (u-1) of cloud-1, project demo (p-1) may not act at cloud 'cloud-3': "
        "no mapping rule allows it. openstackoid sent nothing to that cloud."
    )


def test_credential_refusals_name_the_credential_never_its_secret() -> None:
    refused = MappedLoginRefused(CREDENTIAL, 401)
    admin = MappedRoleRefused(IdentityMapping("cloud-3", "r", CREDENTIAL), "cloud-3")
    for error in (refused, admin):
        assert error.status == 403
        assert "reader@cloud-3 (application credential ac-3)" in error.message
        assert "s3cret" not in error.message
    assert "status 401" in refused.message and "allow_admin" in admin.message
    assert MappedLoginFailed("x").status == 502
