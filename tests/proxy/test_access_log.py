"""The access log: one JSON line per request, with what an operator greps for, no secrets."""

from __future__ import annotations

import json
import logging

import pytest

from tests.federation import FederationFactory


async def test_one_json_line_per_request_without_tokens(
    make_federation: FederationFactory, caplog: pytest.LogCaptureFixture
) -> None:
    federation = await make_federation(access_log=True)
    scope = "{keystone: cloud-1; glance: cloud-2 & cloud-3}"
    token = await federation.token(scope)
    headers = {"X-Auth-Token": token, "X-Scope": scope}
    caplog.set_level(logging.INFO, logger="openstackoid.access")
    caplog.clear()
    answers = []
    for path in ("/image/v2/images", "/compute/v2.1/flavors", "/image/v2/images/nope"):
        async with federation.session.get(federation.url + path, headers=headers) as resp:
            answers.append((path, resp.status, resp.headers["X-Openstackoid-Request-Id"]))
    async with federation.session.get(
        f"{federation.url}/image/v2/images", headers={**headers, "X-Scope": "{glance: ghost}"}
    ) as resp:
        answers.append(("/image/v2/images", resp.status, resp.headers["X-Openstackoid-Request-Id"]))
    lines = [r.getMessage() for r in caplog.records if r.name == "openstackoid.access"]
    assert len(lines) == len(answers)
    for line, (path, status, request_id) in zip(lines, answers, strict=True):
        entry = json.loads(line)
        assert (entry["id"], entry["path"], entry["status"]) == (request_id, path, status)
        assert entry["method"] == "GET" and entry["ms"] >= 0
    entries = [json.loads(line) for line in lines]
    assert entries[0]["clouds"] == {"every": ["cloud-2", "cloud-3"]}
    assert entries[1]["clouds"] == "cloud-1" and entries[1]["service"] == "compute"
    assert entries[3]["status"] == 400 and entries[3]["clouds"] is None
    assert token not in caplog.text
