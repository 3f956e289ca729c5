"""The mapping-rule admin routes, mounted in the admin app, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio
from aiohttp.test_utils import TestServer

from openstackoid.registry import Cloud, Credentials, MemoryStore, Registry
from openstackoid.registry.admin_api import make_admin_app
from openstackoid.registry.admin_rules import RulesAdmin
from openstackoid.registry.mapping import RuleBook
from openstackoid.registry.rule_store import SqliteRuleStore

ADMIN = {"X-Admin-Token": "let-me-in"}
RULE: dict[str, Any] = {
    "match": {"issuer": "cloud-1", "roles": "member"},
    "targets": ["cloud-3"],
    "credential": "reader",
}
CREDENTIAL = {"application_credential_id": "ac-3", "application_credential_secret": "s3cret-ac"}
CALLER = {
    "issuer": "cloud-1",
    "user_id": "u-1",
    "user_name": "demo",
    "project_id": "p-1",
    "roles": ["member"],
}


class Admin:
    def __init__(self, url: str, session: aiohttp.ClientSession, book: RuleBook) -> None:
        self.url = url
        self.session = session
        self.book = book

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(
            method, f"{self.url}{path}", json=body, headers=ADMIN
        ) as resp:
            return resp.status, await resp.json() if resp.status != 204 else None


@pytest_asyncio.fixture
async def admin(tmp_path: Path) -> AsyncIterator[Admin]:
    registry = Registry(
        [
            Cloud("cloud-1", "http://127.0.0.1:1/identity/v3"),
            Cloud(
                "cloud-3",
                "http://127.0.0.1:3/identity/v3",
                credentials=Credentials(username="admin", password="pw", project_name="admin"),
            ),
        ]
    )
    book = RuleBook()
    store = SqliteRuleStore(tmp_path / "registry.sqlite")
    app = make_admin_app(registry, MemoryStore(), "let-me-in", RulesAdmin(book, store, registry))
    server = TestServer(app)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            yield Admin(str(server.make_url("")), session, book)
    finally:
        await server.close()
        await store.close()


async def test_rules_are_created_listed_decided_and_deleted(admin: Admin, tmp_path: Path) -> None:
    status, body = await admin.call("PUT", "/target-credentials/cloud-3/reader", CREDENTIAL)
    assert status == 201 and "s3cret" not in str(body)
    status, body = await admin.call("PUT", "/mapping-rules/members-read", RULE)
    assert status == 201 and body["mapping_rule"]["name"] == "members-read"
    assert admin.book.rule("members-read") is not None
    status, body = await admin.call("GET", "/mapping-rules")
    assert [r["name"] for r in body["mapping_rules"]] == ["members-read"]
    status, body = await admin.call("GET", "/target-credentials")
    assert body["target_credentials"] == [
        {"cloud": "cloud-3", "name": "reader", "application_credential_id": "ac-3"}
    ]
    status, body = await admin.call(
        "POST", "/mapping-rules/decide", {"caller": CALLER, "target": "cloud-3"}
    )
    assert body == {
        "allowed": True,
        "rule": "members-read",
        "identity": "reader@cloud-3 (application credential ac-3)",
    }
    reader = {**CALLER, "roles": ["reader"]}
    status, body = await admin.call(
        "POST", "/mapping-rules/decide", {"caller": reader, "target": "cloud-3"}
    )
    assert body["allowed"] is False and "no mapping rule allows it" in body["message"]
    stored = await SqliteRuleStore(tmp_path / "registry.sqlite").load()
    assert [r.name for r in stored.rules] == ["members-read"]
    status, _ = await admin.call("PUT", "/mapping-rules/members-read", {**RULE, "priority": 3})
    assert status == 200 and admin.book.rule("members-read").priority == 3  # type: ignore[union-attr]
    assert (await admin.call("DELETE", "/mapping-rules/members-read"))[0] == 204
    assert (await admin.call("DELETE", "/mapping-rules/members-read"))[0] == 404
    assert (await admin.call("DELETE", "/target-credentials/cloud-3/reader"))[0] == 204
    assert (await admin.call("GET", "/target-credentials/cloud-3/reader"))[0] == 404
    stored = await SqliteRuleStore(tmp_path / "registry.sqlite").load()
    assert stored.rules == () and stored.credentials == ()


async def test_bad_bodies_get_one_line_errors(admin: Admin) -> None:
    status, body = await admin.call("PUT", "/mapping-rules/r", {**RULE, "deny": True})
    assert status == 400
    assert body["error"]["message"].startswith("body 'r': a rule needs exactly one of")
    status, body = await admin.call("PUT", "/mapping-rules/r", {**RULE, "name": "other"})
    assert status == 400 and "the URL 'r'" in body["error"]["message"]
    status, body = await admin.call("PUT", "/target-credentials/cloud-9/x", CREDENTIAL)
    assert status == 404 and "Unknown cloud 'cloud-9'" in body["error"]["message"]
    status, body = await admin.call(
        "POST", "/mapping-rules/decide", {"caller": {"issuer": "cloud-1"}, "target": "cloud-3"}
    )
    assert status == 400 and "user_id" in body["error"]["message"]
    assert admin.book.rules() == () and admin.book.credentials() == ()


async def test_the_clouds_own_account_is_no_target_credential(admin: Admin) -> None:
    blanket = {"username": "admin", "password": "pw", "project_name": "admin"}
    status, body = await admin.call("PUT", "/target-credentials/cloud-3/everything", blanket)
    assert status == 400 and "least-privileged" in body["error"]["message"]
    assert admin.book.credentials() == ()


async def test_rule_routes_need_the_admin_token(admin: Admin) -> None:
    async with admin.session.get(f"{admin.url}/mapping-rules") as resp:
        assert resp.status == 401
    async with admin.session.put(
        f"{admin.url}/mapping-rules/r", json=RULE, headers={"X-Admin-Token": "nope"}
    ) as resp:
        assert resp.status == 401
    assert admin.book.rules() == ()
