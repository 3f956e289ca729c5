"""cli_plugin's errors.

ScopeConfigError (RuntimeError)  a scope from the configuration that cannot take effect
 +-- ScopeUrlError               an auth_url the scope cannot be put into

Not ValueErrors, on purpose: openstacksdk's Connection catches ValueError, ImportError,
TypeError and AttributeError raised by a vendor_hook, logs an unrelated warning ("Hook should
be in the entrypoint module:attribute format") and goes on with no scope at all, that is
with the proxy's default cloud. A ScopeConfigError reaches the user.
"""

from __future__ import annotations


class ScopeConfigError(RuntimeError):
    """A scope given in clouds.yaml, OS_SCOPE, --os-scope or connect() that cannot apply."""


class ScopeUrlError(ScopeConfigError):
    """The auth_url has no `/identity` path to put `/scope/<scope>` before."""
