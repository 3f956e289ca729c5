"""Keystone v3: discovery, password/token/application-credential auth, validation, catalog."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from testbed.model import (
    DOMAIN_ID,
    DOMAIN_NAME,
    PASSWORD,
    PROJECT_NAME,
    REGION,
    USERNAME,
    CloudState,
    TokenRecord,
    stable_id,
)
from testbed.responses import json_response, keystone_error

TOKEN_LIFETIME = timedelta(hours=1)
SERVICE_NAMES = {"identity": "keystone", "image": "glance", "compute": "nova", "network": "neutron"}


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class TokenBook:
    """Tokens of every cloud. A token is honoured only by the cloud that issued it, unless
    the clouds share identity."""

    def __init__(self, shared_identity: bool) -> None:
        self.shared_identity = shared_identity
        self._tokens: dict[str, TokenRecord] = {}

    def issue(self, cloud: CloudState, methods: list[str]) -> tuple[str, TokenRecord]:
        now = datetime.now(UTC)
        self._drop_expired(now)
        token = "gAAAAA" + secrets.token_urlsafe(96)
        record = TokenRecord(
            cloud.name, cloud.user_id, cloud.project_id, methods, now, now + TOKEN_LIFETIME
        )
        self._tokens[token] = record
        return token, record

    def check(self, cloud: CloudState, token: str | None) -> TokenRecord | None:
        record = self._tokens.get(token) if token else None
        if record is None or record.expires_at <= datetime.now(UTC):
            return None
        if record.cloud != cloud.name and not self.shared_identity:
            return None
        return record

    def revoke(self, token: str) -> None:
        self._tokens.pop(token, None)

    def _drop_expired(self, now: datetime) -> None:
        if len(self._tokens) > 10_000:  # bound memory under long soaks
            for key in [k for k, r in self._tokens.items() if r.expires_at <= now]:
                del self._tokens[key]


def catalog(cloud: CloudState) -> list[dict[str, Any]]:
    entries = []
    for service_type, url in cloud.info.endpoints.items():
        endpoints = [
            {
                "id": stable_id(cloud.name, f"endpoint/{service_type}/{interface}").replace(
                    "-", ""
                ),
                "interface": interface,
                "region": REGION,
                "region_id": REGION,
                "url": url,
            }
            for interface in ("public", "internal", "admin")
        ]
        entries.append(
            {
                "id": stable_id(cloud.name, f"service/{service_type}").replace("-", ""),
                "type": service_type,
                "name": SERVICE_NAMES[service_type],
                "endpoints": endpoints,
            }
        )
    return entries


def _domain() -> dict[str, str]:
    return {"id": DOMAIN_ID, "name": DOMAIN_NAME}


def token_body(cloud: CloudState, record: TokenRecord) -> dict[str, Any]:
    return {
        "token": {
            "methods": record.methods,
            "user": {
                "id": record.user_id,
                "name": USERNAME,
                "domain": _domain(),
                "password_expires_at": None,
            },
            "audit_ids": [secrets.token_urlsafe(16)],
            "issued_at": _iso(record.issued_at),
            "expires_at": _iso(record.expires_at),
            "project": {"id": record.project_id, "name": PROJECT_NAME, "domain": _domain()},
            "is_domain": False,
            "roles": [
                {"id": stable_id(cloud.name, f"role/{name}").replace("-", ""), "name": name}
                for name in ("admin", "member", "reader")
            ],
            "catalog": catalog(cloud),
        }
    }


def _version(cloud: CloudState) -> dict[str, Any]:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{cloud.info.base_url}/identity/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


async def versions(request: web.Request, cloud: CloudState) -> web.Response:
    # Keystone answers its unversioned root with 300 Multiple Choices.
    return json_response({"versions": {"values": [_version(cloud)]}}, status=300)


async def version(request: web.Request, cloud: CloudState) -> web.Response:
    return json_response({"version": _version(cloud)})


def _authenticate(identity: dict[str, Any], cloud: CloudState, book: TokenBook) -> bool:
    methods = identity.get("methods") or []
    if "password" in methods:
        user = (identity.get("password") or {}).get("user") or {}
        name_ok = user.get("name") == USERNAME or user.get("id") == cloud.user_id
        return bool(name_ok and user.get("password") == PASSWORD)
    if "token" in methods:
        token = (identity.get("token") or {}).get("id")
        return book.check(cloud, token) is not None
    if "application_credential" in methods:
        cred = identity.get("application_credential") or {}
        return bool(cred.get("secret") == PASSWORD and (cred.get("id") or cred.get("name")))
    return False


async def issue_token(request: web.Request, cloud: CloudState, book: TokenBook) -> web.Response:
    try:
        body = await request.json()
        identity = body["auth"]["identity"]
        authenticated = _authenticate(identity, cloud, book)
    except (ValueError, KeyError, TypeError, AttributeError):  # Keystone's schema check: 400
        return keystone_error(400, "Expecting to find auth.identity in request body.")
    if not authenticated:
        return keystone_error(401, "The request you have made requires authentication.")
    token, record = book.issue(cloud, list(identity.get("methods") or ["password"]))
    return json_response(token_body(cloud, record), 201, {"X-Subject-Token": token})


def _caller(request: web.Request, cloud: CloudState, book: TokenBook) -> TokenRecord | None:
    return book.check(cloud, request.headers.get("X-Auth-Token"))


async def validate_token(request: web.Request, cloud: CloudState, book: TokenBook) -> web.Response:
    if _caller(request, cloud, book) is None:
        return keystone_error(401, "The request you have made requires authentication.")
    subject = request.headers.get("X-Subject-Token")
    record = book.check(cloud, subject)
    if record is None or subject is None:
        return keystone_error(404, f"Could not find token: {(subject or '')[:8]}...")
    if request.method == "HEAD":
        return web.Response(status=200, headers={"X-Subject-Token": subject})
    if request.method == "DELETE":
        book.revoke(subject)
        return web.Response(status=204)
    return json_response(token_body(cloud, record), 200, {"X-Subject-Token": subject})


def _project(cloud: CloudState) -> dict[str, Any]:
    return {
        "id": cloud.project_id,
        "name": PROJECT_NAME,
        "domain_id": DOMAIN_ID,
        "enabled": True,
        "description": f"admin project of {cloud.name}",
        "is_domain": False,
        "parent_id": DOMAIN_ID,
        "tags": [],
        "options": {},
        "links": {"self": f"{cloud.info.auth_url}/projects/{cloud.project_id}"},
    }


def _user(cloud: CloudState) -> dict[str, Any]:
    return {
        "id": cloud.user_id,
        "name": USERNAME,
        "domain_id": DOMAIN_ID,
        "enabled": True,
        "password_expires_at": None,
        "options": {},
        "links": {"self": f"{cloud.info.auth_url}/users/{cloud.user_id}"},
    }


async def listing(request: web.Request, cloud: CloudState, book: TokenBook) -> web.Response:
    """projects, users, domains, auth/projects, auth/catalog, users/{id}/projects."""
    if _caller(request, cloud, book) is None:
        return keystone_error(401, "The request you have made requires authentication.")
    tail = request.match_info["tail"].rstrip("/")
    links = {"self": str(request.url), "previous": None, "next": None}
    if tail in ("projects", "auth/projects", f"users/{cloud.user_id}/projects"):
        return json_response({"projects": [_project(cloud)], "links": links})
    if tail == f"projects/{cloud.project_id}":
        return json_response({"project": _project(cloud)})
    if tail == "users":
        return json_response({"users": [_user(cloud)], "links": links})
    if tail == f"users/{cloud.user_id}":
        return json_response({"user": _user(cloud)})
    if tail == "domains":
        domain = {**_domain(), "enabled": True, "description": "", "tags": [], "options": {}}
        return json_response({"domains": [domain], "links": links})
    if tail == "auth/catalog":
        return json_response({"catalog": catalog(cloud), "links": links})
    return keystone_error(404, f"Could not find resource: {tail}.")
