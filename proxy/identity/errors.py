"""Refusals of the mapped identity path, as proxy errors (OpenStack's error shape).

Forbidden (403)
 +-- MappingDenied        no rule lets the caller act at the target (nothing was sent there)
 +-- MappedLoginRefused   the target's Keystone refused the credential a rule maps to
 +-- MappedRoleRefused    the mapped credential holds `admin` and its rule does not allow it
UpstreamUnavailable (502)
 +-- MappedLoginFailed    the target's Keystone failed while logging in as the credential
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from openstackoid.proxy.errors import Forbidden, UpstreamUnavailable

if TYPE_CHECKING:
    from openstackoid.registry.mapping import Denial, IdentityMapping
    from openstackoid.registry.rules import TargetCredential


class MappingDenied(Forbidden):
    def __init__(self, denial: Denial) -> None:
        super().__init__(denial.message)
        self.denial = denial


class MappedLoginRefused(Forbidden):
    def __init__(self, credential: TargetCredential, status: int) -> None:
        super().__init__(
            f"cloud {credential.cloud!r} refused the credential {credential.identity} that "
            f"openstackoid maps you to (status {status}); the operator must renew it"
        )


class MappedRoleRefused(Forbidden):
    def __init__(self, mapping: IdentityMapping, target: str) -> None:
        assert mapping.credential is not None
        super().__init__(
            f"the credential {mapping.credential.identity} that mapping rule "
            f"{mapping.rule!r} maps to holds the admin role at cloud {target!r}: openstackoid "
            "refuses to use it (register a least-privileged one, or set allow_admin on the rule)"
        )


class MappedLoginFailed(UpstreamUnavailable):
    pass
