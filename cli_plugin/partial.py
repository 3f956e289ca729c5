"""A fanned-out answer that lacks some clouds says so on stderr, not only under --debug.

The proxy names the clouds a merged answer lacks, and why, in X-Openstack-Partial-Failure;
the answer itself is a 200 and the command exits 0. A requests response hook on the
keystoneauth session (the one session every service shares) logs it as a WARNING: OSC's
console handler prints warnings on stderr, and an openstacksdk user's logging (or Python's
last-resort handler) shows it too.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

PARTIAL_FAILURE = "X-Openstack-Partial-Failure"
_MAX_REMEMBERED = 64
"""Each different failure is told once per connection: a listing paged 100 times with the
same cloud down warns once. Bounded, as a long-lived connection sees many."""

log = logging.getLogger("openstackoid")


class PartialFailureWarning:
    """The response hook; one per keystoneauth session."""

    def __init__(self) -> None:
        self._told: dict[str, None] = {}

    def __call__(self, response: Any, *args: Any, **kwargs: Any) -> None:
        detail = response.headers.get(PARTIAL_FAILURE)
        # 300 is version discovery (keystoneauth's, before the real call): the real call
        # will tell about the same clouds.
        if not detail or detail in self._told or response.status_code == 300:
            return
        self._told[detail] = None
        if len(self._told) > _MAX_REMEMBERED:
            del self._told[next(iter(self._told))]
        path = urlsplit(response.request.url).path if response.request is not None else ""
        log.warning(
            "WARNING: partial results from openstackoid (%s %s): some clouds did not "
            "answer and their items are missing: %s",
            getattr(response.request, "method", "GET"),
            path,
            detail,
        )


def warn_on_partial_results(session: Any) -> None:
    """Install the hook on a keystoneauth Session (once)."""
    hooks: list[Any] = session.session.hooks.setdefault("response", [])
    if not any(isinstance(hook, PartialFailureWarning) for hook in hooks):
        hooks.append(PartialFailureWarning())
