"""The per-request audit record: shared with the tasks a fan-out spawns, never a secret."""

from __future__ import annotations

import asyncio

from openstackoid.proxy.identity import audit
from openstackoid.registry.caller import CallerIdentity

CALLER = CallerIdentity("cloud-1", "u-1", "demo", project_id="p-1")


async def test_tasks_of_a_request_fill_its_one_record() -> None:
    record = audit.open_record()

    async def call(cloud: str) -> None:
        audit.note(CALLER, cloud, f"reader@{cloud}")

    await asyncio.gather(*(asyncio.ensure_future(call(c)) for c in ("cloud-2", "cloud-3")))
    assert record.fields() == {
        "issuer": "cloud-1",
        "user_id": "u-1",
        "project_id": "p-1",
        "acting_as": {"cloud-2": "reader@cloud-2", "cloud-3": "reader@cloud-3"},
    }


async def test_without_a_record_nothing_is_kept() -> None:
    async def elsewhere() -> None:
        audit.note(CALLER, "cloud-2", "x")  # a task started outside any request

    await asyncio.ensure_future(elsewhere())
    fields = audit.AuditRecord().fields()
    assert fields == {"issuer": None, "user_id": None, "project_id": None, "acting_as": None}
