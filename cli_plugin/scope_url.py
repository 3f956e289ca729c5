"""The scope baked into an auth_url, for clients that never load openstackoid's code.

`http://PROXY/identity/v3` with scope `{keystone: cloud-1; glance: cloud-2}` becomes
`http://PROXY/scope/identity:cloud-1;image:cloud-2/identity/v3`; a named scope or a cloud
stays a word: `http://PROXY/scope/fed-c2/identity/v3`. The proxy keeps that prefix in
everything it hands back, so every later call of the client carries the scope.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from openstackoid.cli_plugin.errors import ScopeConfigError, ScopeUrlError
from openstackoid.cli_plugin.scope_value import ScopeOption, scope_from_config
from openstackoid.scope_dsl import (
    Scope,
    ScopeSyntaxError,
    brace_free,
    parse_scope,
    parse_url_segment,
    to_url_segment,
)

_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""A named scope or a cloud (registry/named_scopes.NAME): kept as written in the URL."""
_SCOPED_PATH = re.compile(
    r"^(?P<base>.*?)(?:/scope/(?P<segment>[^/]+))?(?P<api>/identity(?:/.*)?)$"
)


def url_segment(scope: Any) -> str:
    """A scope (text, mapping, parsed) or a scope's name as one URL path segment."""
    text = scope.text if isinstance(scope, ScopeOption) else scope
    if isinstance(text, str) and _WORD.match(text.strip()):
        return text.strip()  # the proxy tells a named scope from a cloud
    parsed = scope_from_config(scope)
    if parsed is None:
        raise ScopeConfigError("no scope to put in the URL")
    return to_url_segment(parsed)


def scoped_auth_url(auth_url: str, scope: Any) -> str:
    """`auth_url` with `/scope/<segment>` before its `/identity` path (replacing any)."""
    parts = urlsplit(auth_url)
    match = _SCOPED_PATH.match(parts.path.rstrip("/"))
    if match is None:
        raise ScopeUrlError(
            f"{auth_url!r} has no /identity path: is it openstackoid's (http://PROXY/identity/v3)?"
        )
    path = f"{match['base']}/scope/{url_segment(scope)}{match['api']}"
    return urlunsplit(parts._replace(path=path))


def url_scope_of(auth_url: str) -> str | Scope | None:
    """The scope an auth_url carries: a Scope (inline), a name (named scope or cloud),
    or None."""
    match = _SCOPED_PATH.match(urlsplit(auth_url).path.rstrip("/"))
    segment = match["segment"] if match else None
    if not segment:
        return None
    if _WORD.match(segment):
        return segment
    return parse_url_segment(segment)


def clouds_yaml_form(scope: Scope) -> str:
    """The form to write in clouds.yaml: no braces, so openstack.config's str.format leaves
    it alone in every consumer, with or without openstackoid's plugin."""
    return brace_free(scope)


def braces_hint(value: Any) -> str | None:
    """For a clouds.yaml `scope:` string with braces: the line to write instead."""
    if not isinstance(value, str) or "{" not in value:
        return None
    try:
        parsed = parse_scope(value)
    except ScopeSyntaxError:
        return None
    return (
        f"clouds.yaml `scope: {value}` has braces: openstacksdk crashes on it (KeyError) "
        "wherever openstackoid's plugin is not loaded (Ansible, plain scripts). Write "
        f'`scope: "{clouds_yaml_form(parsed)}"` instead'
    )


def bake_cloud_entry(entry: Mapping[str, Any], scope: Any = None) -> dict[str, Any]:
    """A clouds.yaml cloud entry whose auth_url carries its `scope:` (or `scope`), the
    `scope:` key removed: any openstacksdk consumer is then scoped, plugin or not."""
    baked = dict(entry)
    wanted = scope if scope is not None else baked.pop("scope", None)
    baked.pop("scope", None)
    if wanted is None or wanted == "":
        raise ScopeConfigError("the entry has no `scope:` to bake into its auth_url")
    auth = dict(baked.get("auth") or {})
    if not auth.get("auth_url"):
        raise ScopeUrlError("the entry has no auth.auth_url to put the scope in")
    auth["auth_url"] = scoped_auth_url(str(auth["auth_url"]), wanted)
    baked["auth"] = auth
    return baked
