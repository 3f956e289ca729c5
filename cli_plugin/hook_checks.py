"""What the vendor hook checks so that a scope never silently fails to apply.

- A scope that does not parse becomes a ScopeConfigError carrying the caret and suggestion
  (openstacksdk would swallow the ValueError and serve the default cloud).
- A clouds.yaml `scope:` with braces works here but crashes every consumer without this
  plugin: a warning gives the brace-free line to write.
- An auth_url that carries a scope (`/scope/<scope>/`) and an X-Scope that says otherwise:
  the proxy applies X-Scope; a warning says the URL's scope is overridden.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from openstackoid.cli_plugin.errors import ScopeConfigError
from openstackoid.cli_plugin.scope_url import braces_hint, url_scope_of
from openstackoid.scope_dsl import Scope, ScopeError

log = logging.getLogger("openstackoid")


@contextmanager
def scope_errors_reach_the_user() -> Iterator[None]:
    try:
        yield
    except ScopeError as exc:
        raise ScopeConfigError(
            f"the scope from --os-scope, OS_SCOPE or clouds.yaml `scope:` is invalid: {exc}"
        ) from None


def warn_where_the_scope_may_not_apply(config: Mapping[str, Any], header: Scope | None) -> None:
    """Log (WARNING, shown on stderr by OSC) what would otherwise go unnoticed."""
    hint = braces_hint(config.get("scope"))
    if hint:
        log.warning("WARNING: %s", hint)
    auth_url = (config.get("auth") or {}).get("auth_url") or config.get("auth_url")
    if header is None or not auth_url:
        return
    try:
        in_url = url_scope_of(str(auth_url))
    except ScopeError as exc:
        log.warning("WARNING: the scope in auth_url %s does not parse: %s", auth_url, exc)
        return
    if in_url is None or in_url == header:
        return
    log.warning(
        "WARNING: the auth_url carries scope %s but X-Scope says %s: the proxy applies "
        "X-Scope (--os-scope, OS_SCOPE or clouds.yaml `scope:`), not the URL's",
        in_url,
        header,
    )
