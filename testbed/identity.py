"""Keystone v3: discovery, password/token/application-credential auth, validation, revocation,
catalog. The users, projects and roles behind it are each cloud's own (testbed.directory)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from openstackoid.testbed.directory import AppCredential, Directory, DirectoryError, User
from openstackoid.testbed.model import DOMAIN_ID, DOMAIN_NAME, REGION, CloudState, stable_id
from openstackoid.testbed.responses import json_response, keystone_error
from openstackoid.testbed.tokens import AppCredentialRef, TokenBook, TokenRecord

SERVICE_NAMES = {"identity": "keystone", "image": "glance", "compute": "nova", "network": "neutron"}
UNAUTHENTICATED = "The request you have made requires authentication."


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> float:
    """Keystone's expires_at as a POSIX timestamp."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


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


def domain_ref() -> dict[str, str]:
    return {"id": DOMAIN_ID, "name": DOMAIN_NAME}


def token_body(cloud: CloudState, record: TokenRecord, with_catalog: bool = True) -> dict[str, Any]:
    token: dict[str, Any] = {
        "methods": list(record.methods),
        "user": {
            "id": record.user_id,
            "name": record.user_name,
            "domain": domain_ref(),
            "password_expires_at": None,
        },
        "audit_ids": [record.audit_id],
        "issued_at": iso(record.issued_at),
        "expires_at": iso(record.expires_at),
    }
    if record.project_id is not None:
        token["project"] = {
            "id": record.project_id,
            "name": record.project_name,
            "domain": domain_ref(),
        }
        token["is_domain"] = False
        token["roles"] = [{"id": rid, "name": name} for rid, name in record.roles]
        if with_catalog:
            token["catalog"] = catalog(cloud)
    if record.app_credential is not None:
        ref = record.app_credential
        token["application_credential"] = {
            "id": ref.id,
            "name": ref.name,
            "restricted": ref.restricted,
        }
    return {"token": token}


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


class AuthFailed(Exception):
    """Keystone's 401 on POST /v3/auth/tokens; the message says why, never a secret."""


def _domain_id(ref: Any) -> str:
    if not isinstance(ref, dict):
        raise AuthFailed("A user or project name needs its domain.")
    if ref.get("id") == DOMAIN_ID or ref.get("name") == DOMAIN_NAME:
        return DOMAIN_ID
    raise AuthFailed(f"Could not find domain: {ref.get('id') or ref.get('name')}.")


def _user_of(directory: Directory, ref: Any) -> User:
    if not isinstance(ref, dict):
        raise AuthFailed("Expecting to find user in auth.")
    user = directory.users.get(str(ref.get("id"))) if ref.get("id") else None
    if user is None and ref.get("name"):
        user = directory.find_user(str(ref["name"]), _domain_id(ref.get("domain")))
    if user is None or not user.enabled:
        raise AuthFailed(UNAUTHENTICATED)
    return user


def _project_of(directory: Directory, scope: Any) -> str | None:
    """The project a token request asks for, None for an unscoped one."""
    if scope is None or scope == "unscoped":
        return None
    if not isinstance(scope, dict) or "project" not in scope:
        raise AuthFailed("The testbed's Keystone scopes tokens to projects only.")
    ref = scope["project"]
    if not isinstance(ref, dict):
        raise AuthFailed("Expecting to find project in scope.")
    if ref.get("id"):
        project = directory.projects.get(str(ref["id"]))
    else:
        project = directory.find_project(str(ref.get("name")), _domain_id(ref.get("domain")))
    if project is None:
        raise AuthFailed(f"Could not find project: {ref.get('id') or ref.get('name')}.")
    return project.id


def _app_credential(directory: Directory, ref: Any) -> AppCredential:
    if not isinstance(ref, dict):
        raise AuthFailed("Expecting to find application_credential in auth.")
    if ref.get("id"):
        cred = directory.app_credentials.get(str(ref["id"]))
    else:
        owner = _user_of(directory, ref.get("user"))
        cred = next(
            (
                c
                for c in directory.app_credentials.values()
                if c.user_id == owner.id and c.name == ref.get("name")
            ),
            None,
        )
    if cred is None or not cred.secret.matches(ref.get("secret")):
        raise AuthFailed(UNAUTHENTICATED)
    if cred.expires_at is not None and cred.expires_at <= datetime.now(UTC):
        raise AuthFailed(f"Application credential {cred.id} has expired.")
    return cred


def _roles(directory: Directory, role_ids: set[str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((rid, directory.roles[rid].name) for rid in role_ids))


def authenticate(
    cloud: CloudState, book: TokenBook, auth: dict[str, Any]
) -> tuple[str, TokenRecord]:
    """A new token for POST /v3/auth/tokens' `auth`, or AuthFailed."""
    directory = cloud.directory
    identity = auth["identity"]
    methods = tuple(identity["methods"])
    scope = auth.get("scope")
    if "application_credential" in methods:
        if scope is not None:
            raise AuthFailed("Application credentials cannot request a scope.")
        cred = _app_credential(directory, identity["application_credential"])
        user = directory.user(cred.user_id)
        held = directory.effective_role_ids(user.id, cred.project_id)
        roles = {rid for rid in cred.role_ids if rid in held}
        if not roles:
            raise AuthFailed(f"The user {user.id} lost the roles of application credential.")
        project = directory.project(cred.project_id)
        ref = AppCredentialRef(cred.id, cred.name, not cred.unrestricted)
        return book.issue(
            cloud.name,
            (user.id, user.name),
            (project.id, project.name),
            _roles(directory, roles),
            methods,
            ref,
            cred.expires_at,
        )
    parent: TokenRecord | None = None
    if "password" in methods:
        password = identity["password"]
        user = _user_of(directory, password["user"])
        if user.password is None or not user.password.matches(password["user"].get("password")):
            raise AuthFailed(UNAUTHENTICATED)
    elif "token" in methods:
        parent = book.check(cloud.name, identity["token"].get("id"))
        if parent is None or parent.cloud != cloud.name:
            raise AuthFailed(UNAUTHENTICATED)
        if parent.app_credential is not None:
            raise AuthFailed("A token from an application credential cannot be rescoped.")
        user = directory.user(parent.user_id)
        methods = tuple(dict.fromkeys(("token", *parent.methods)))
    else:
        raise AuthFailed(f"Unsupported authentication methods: {', '.join(methods)}.")
    project_id = _project_of(directory, scope)
    if scope is None and user.default_project_id in directory.projects:
        if directory.direct_role_ids(user.id, user.default_project_id or ""):
            project_id = user.default_project_id
    if project_id is None:
        return book.issue(cloud.name, (user.id, user.name), None, (), methods)
    roles = directory.effective_role_ids(user.id, project_id)
    if not roles:
        raise AuthFailed(f"User {user.id} has no access to project {project_id}.")
    project = directory.project(project_id)
    return book.issue(
        cloud.name,
        (user.id, user.name),
        (project.id, project.name),
        _roles(directory, roles),
        methods,
        expires_at=parent.expires_at if parent else None,
    )


async def issue_token(request: web.Request, cloud: CloudState, book: TokenBook) -> web.Response:
    try:
        auth = (await request.json())["auth"]
        token, record = authenticate(cloud, book, auth)
    except (ValueError, KeyError, TypeError, AttributeError):  # Keystone's schema check: 400
        return keystone_error(400, "Expecting to find auth.identity in request body.")
    except AuthFailed as exc:
        return keystone_error(401, str(exc))
    except DirectoryError as exc:
        return keystone_error(401, exc.message)
    with_catalog = "nocatalog" not in request.query
    body = token_body(cloud, record, with_catalog)
    return json_response(body, 201, {"X-Subject-Token": token})


def may_act_on(caller: TokenRecord, subject: TokenRecord) -> bool:
    """Keystone's service_admin_or_token_subject rule."""
    return caller.user_id == subject.user_id or bool(caller.role_names & {"admin", "service"})


async def validate_token(request: web.Request, cloud: CloudState, book: TokenBook) -> web.Response:
    """GET/HEAD (validate) and DELETE (revoke) /v3/auth/tokens."""
    caller = book.check(cloud.name, request.headers.get("X-Auth-Token"))
    if caller is None:
        return keystone_error(401, UNAUTHENTICATED)
    subject = request.headers.get("X-Subject-Token")
    record = book.check(cloud.name, subject)
    if record is None or subject is None:
        return keystone_error(404, f"Could not find token: {(subject or '')[:8]}...")
    if not may_act_on(caller, record):
        action = "revoke_token" if request.method == "DELETE" else "validate_token"
        return keystone_error(
            403, f"You are not authorized to perform the requested action: identity:{action}."
        )
    if request.method == "HEAD":
        return web.Response(status=200, headers={"X-Subject-Token": subject})
    if request.method == "DELETE":
        book.revoke(subject)
        return web.Response(status=204)
    body = token_body(cloud, record, "nocatalog" not in request.query)
    return json_response(body, 200, {"X-Subject-Token": subject})
