"""The registry error tree.

RegistryError
 +-- UnknownCloudError (LookupError)   no cloud by that name; names the closest ones
 +-- InvalidCloudError (ValueError)    a cloud definition that does not validate
 +-- NoCredentials                     a login to a cloud without credentials
 +-- LoginRefused                      a cloud's Keystone refused the credentials (.status)
 +-- LoginFailed                       a cloud's Keystone failed (5xx) or sent no token
 +-- StoreUnavailableError             the central store cannot be used (down, cut, refusing)
"""

from __future__ import annotations


class RegistryError(Exception):
    """Root of every error the registry raises."""


class UnknownCloudError(RegistryError, LookupError):
    """No cloud is registered under this name."""

    def __init__(self, name: str, suggestions: tuple[str, ...] = ()) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f" Did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"Unknown cloud {name!r}.{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidCloudError(RegistryError, ValueError):
    """A cloud definition (clouds.yaml entry, registry file, admin API body) is invalid."""


class StoreUnavailableError(RegistryError):
    """The registry's central store (PostgreSQL) cannot be used: down, cut off, stalled, or
    refusing (a missing schema, a missing privilege)."""


class LoginRefused(RegistryError):
    """The cloud's Keystone refused the registered credentials (a status below 500)."""

    def __init__(self, cloud: str, status: int) -> None:
        super().__init__(f"cloud {cloud!r} refused openstackoid's credentials (status {status})")
        self.status = status


class LoginFailed(RegistryError):
    """The cloud's Keystone failed (5xx) or answered something that is no token."""


class NoCredentials(RegistryError):
    """The cloud has no registered credentials to log in with."""
