"""Who acted where, for the access log: one record per client request.

The handler opens a record in a context variable; the identity strategy fills it from
whichever task reaches a cloud (fanned-out calls run in tasks that copy the context, and
so share the record). Never a token or secret: ids, names, and credential ids.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from openstackoid.registry.caller import CallerIdentity


class AuditRecord:
    __slots__ = ("acting_as", "caller")

    def __init__(self) -> None:
        self.caller: CallerIdentity | None = None
        self.acting_as: dict[str, str] = {}
        """Target cloud -> the identity used there (or why it was refused)."""

    def note(self, caller: CallerIdentity | None, target: str, identity: str) -> None:
        if caller is not None:
            self.caller = caller
        self.acting_as[target] = identity

    def fields(self) -> dict[str, Any]:
        """The access log's identity fields."""
        caller = self.caller
        return {
            "issuer": caller.issuer if caller else None,
            "user_id": caller.user_id if caller else None,
            "project_id": caller.project_id if caller else None,
            "acting_as": self.acting_as or None,
        }


_CURRENT: ContextVar[AuditRecord | None] = ContextVar("openstackoid_audit", default=None)


def open_record() -> AuditRecord:
    """A fresh record for the request the current task serves."""
    record = AuditRecord()
    _CURRENT.set(record)
    return record


def note(caller: CallerIdentity | None, target: str, identity: str) -> None:
    """Add to the current request's record, if the access log keeps one."""
    record = _CURRENT.get()
    if record is not None:
        record.note(caller, target, identity)
