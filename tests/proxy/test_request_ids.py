from __future__ import annotations

import multiprocessing
import re
import uuid

from openstackoid.proxy.request_ids import new_request_id

SHAPE = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_ids_have_openstacks_shape_and_parse_as_uuids() -> None:
    ids = [new_request_id() for _ in range(1000)]
    assert all(SHAPE.match(i) for i in ids), ids[:3]
    assert {uuid.UUID(i.removeprefix("req-")).version for i in ids} == {4}
    assert len(set(ids)) == 1000


def _ids_in_child(queue: multiprocessing.Queue[list[str]]) -> None:
    queue.put([new_request_id() for _ in range(100)])


def test_forked_workers_never_repeat_the_parents_ids() -> None:
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[str]] = ctx.Queue()
    children = [ctx.Process(target=_ids_in_child, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
    seen = [new_request_id() for _ in range(100)]
    for _ in children:
        seen += queue.get(timeout=30)
    for child in children:
        child.join(30)
    assert len(set(seen)) == len(seen) == 300
