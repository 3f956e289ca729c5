"""Keystone v3's resources as the openstack CLI manages them: users, projects, roles, role
assignments, application credentials, domains, the token's own projects and catalog.

Policy follows Keystone's defaults for a project-scoped token: managing or listing users,
projects, roles and assignments needs `admin`; users read themselves and manage their own
application credentials (never from a token that came from a restricted one).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web

from openstackoid.testbed.directory import (
    AppCredential,
    Directory,
    DirectoryError,
    Project,
    Role,
    User,
)
from openstackoid.testbed.identity import catalog, iso
from openstackoid.testbed.model import DOMAIN_ID, DOMAIN_NAME, CloudState
from openstackoid.testbed.responses import json_response
from openstackoid.testbed.tokens import TokenBook, TokenRecord

Handler = Callable[[web.Request, CloudState, TokenRecord, TokenBook], Awaitable[web.Response]]
_Named = TypeVar("_Named", User, Project, Role)


class Denied(DirectoryError):
    def __init__(self, action: str) -> None:
        super().__init__(
            403, f"You are not authorized to perform the requested action: identity:{action}."
        )


def _require_admin(caller: TokenRecord, action: str) -> None:
    if "admin" not in caller.role_names:
        raise Denied(action)


def listing(request: web.Request, key: str, rows: list[dict[str, Any]]) -> web.Response:
    """Keystone's collection body: the rows under `key`, and the collection's own links."""
    links = {"self": str(request.url), "previous": None, "next": None}
    return json_response({key: rows, "links": links})


def _base(cloud: CloudState) -> str:
    return cloud.info.auth_url


def _domain_view() -> dict[str, Any]:
    return {
        "id": DOMAIN_ID,
        "name": DOMAIN_NAME,
        "enabled": True,
        "description": "The default domain",
        "tags": [],
        "options": {},
    }


def _project_view(cloud: CloudState, project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "domain_id": project.domain_id,
        "enabled": project.enabled,
        "description": project.description,
        "is_domain": False,
        "parent_id": project.domain_id,
        "tags": [],
        "options": {},
        "links": {"self": f"{_base(cloud)}/projects/{project.id}"},
    }


def _user_view(cloud: CloudState, user: User) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "domain_id": user.domain_id,
        "enabled": user.enabled,
        "password_expires_at": None,
        "options": {},
        "links": {"self": f"{_base(cloud)}/users/{user.id}"},
    }
    for key in ("default_project_id", "description", "email"):
        if getattr(user, key) is not None:
            view[key] = getattr(user, key)
    return view


def _role_view(cloud: CloudState, role: Role) -> dict[str, Any]:
    return {
        "id": role.id,
        "name": role.name,
        "domain_id": None,
        "description": None,
        "options": {},
        "links": {"self": f"{_base(cloud)}/roles/{role.id}"},
    }


def _app_cred_view(cloud: CloudState, cred: AppCredential) -> dict[str, Any]:
    directory = cloud.directory
    return {
        "id": cred.id,
        "name": cred.name,
        "description": cred.description,
        "user_id": cred.user_id,
        "project_id": cred.project_id,
        "roles": [
            {"id": rid, "name": directory.roles[rid].name, "domain_id": None}
            for rid in cred.role_ids
            if rid in directory.roles
        ],
        "expires_at": iso(cred.expires_at) if cred.expires_at else None,
        "unrestricted": cred.unrestricted,
        "access_rules": [],
        "links": {"self": f"{_base(cloud)}/users/{cred.user_id}/application_credentials/{cred.id}"},
    }


async def _body(request: web.Request, key: str) -> dict[str, Any]:
    try:
        body = await request.json()
        value = body[key]
    except (ValueError, KeyError, TypeError) as exc:
        raise DirectoryError(400, f"Expecting to find {key} in request body.") from exc
    if not isinstance(value, dict):
        raise DirectoryError(400, f"Invalid input for field '{key}': not an object.")
    return value


async def _creation(request: web.Request, caller: TokenRecord, key: str) -> dict[str, Any]:
    """The `key` object a POST creating one asks for: needs `admin`, and a name."""
    _require_admin(caller, f"create_{key}")
    fields = await _body(request, key)
    if not isinstance(fields.get("name"), str) or not fields["name"]:
        raise DirectoryError(400, f"Invalid input for field 'name': a {key} needs a name.")
    return fields


def _named(items: list[Any], request: web.Request) -> list[Any]:
    name = request.query.get("name")
    return [i for i in items if name is None or i.name == name]


def _admin_list(
    key: str,
    table: Callable[[Directory], dict[str, _Named]],
    view: Callable[[CloudState, _Named], dict[str, Any]],
) -> Handler:
    """GET /<key>: needs `admin` (identity:list_<key>), filtered by ?name= as Keystone does."""

    async def handler(
        request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
    ) -> web.Response:
        _require_admin(caller, f"list_{key}")
        found = _named(list(table(cloud.directory).values()), request)
        return listing(request, key, [view(cloud, item) for item in found])

    return handler


# -- users ---------------------------------------------------------------------------------


list_users = _admin_list("users", lambda directory: directory.users, _user_view)


async def create_user(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    fields = await _creation(request, caller, "user")
    project_id = fields.get("default_project_id")
    if project_id is not None:
        cloud.directory.project(str(project_id))
    user = cloud.directory.add_user(
        fields["name"],
        fields.get("password"),
        project_id,
        description=fields.get("description"),
        email=fields.get("email"),
    )
    return json_response({"user": _user_view(cloud, user)}, 201)


def _self_or_admin(caller: TokenRecord, user_id: str, action: str) -> None:
    if caller.user_id != user_id:
        _require_admin(caller, action)


async def show_user(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    user_id = request.match_info["user_id"]
    _self_or_admin(caller, user_id, "get_user")
    return json_response({"user": _user_view(cloud, cloud.directory.user(user_id))})


async def delete_user(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    _require_admin(caller, "delete_user")
    user_id = request.match_info["user_id"]
    cloud.directory.delete_user(user_id)
    book.revoke_where(cloud.name, user_id)
    return web.Response(status=204)


async def user_projects(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    user_id = request.match_info["user_id"]
    _self_or_admin(caller, user_id, "list_user_projects")
    projects = cloud.directory.projects_of(user_id)
    return listing(request, "projects", [_project_view(cloud, p) for p in projects])


# -- projects ------------------------------------------------------------------------------


list_projects = _admin_list("projects", lambda directory: directory.projects, _project_view)


async def create_project(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    fields = await _creation(request, caller, "project")
    project = cloud.directory.add_project(fields["name"], str(fields.get("description") or ""))
    return json_response({"project": _project_view(cloud, project)}, 201)


async def show_project(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    project_id = request.match_info["project_id"]
    if caller.project_id != project_id:
        _require_admin(caller, "get_project")
    return json_response({"project": _project_view(cloud, cloud.directory.project(project_id))})


async def delete_project(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    _require_admin(caller, "delete_project")
    cloud.directory.delete_project(request.match_info["project_id"])
    return web.Response(status=204)


# -- roles and assignments -----------------------------------------------------------------


list_roles = _admin_list("roles", lambda directory: directory.roles, _role_view)


async def show_role(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    _require_admin(caller, "get_role")
    role = cloud.directory.roles.get(request.match_info["role_id"])
    if role is None:
        raise DirectoryError(404, f"Could not find role: {request.match_info['role_id']}.")
    return json_response({"role": _role_view(cloud, role)})


async def project_user_role(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    """PUT (grant), HEAD (check), DELETE (revoke) /v3/projects/{p}/users/{u}/roles/{r}."""
    project_id, user_id, role_id = (
        request.match_info[k] for k in ("project_id", "user_id", "role_id")
    )
    directory = cloud.directory
    directory.project(project_id)
    directory.user(user_id)
    role = directory.roles.get(role_id)
    if role is None:
        raise DirectoryError(404, f"Could not find role: {role_id}.")
    if request.method == "PUT":
        _require_admin(caller, "create_grant")
        directory.grant(user_id, project_id, role.id)
    elif request.method == "DELETE":
        _require_admin(caller, "revoke_grant")
        directory.revoke_role(user_id, project_id, role.id)
    else:
        _require_admin(caller, "check_grant")
        if role.id not in directory.direct_role_ids(user_id, project_id):
            raise DirectoryError(404, f"Could not find role assignment: {role.id}.")
    return web.Response(status=204)


async def project_user_roles(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    _require_admin(caller, "list_grants")
    directory = cloud.directory
    ids = directory.direct_role_ids(request.match_info["user_id"], request.match_info["project_id"])
    return listing(request, "roles", [_role_view(cloud, directory.roles[r]) for r in sorted(ids)])


async def role_assignments(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    _require_admin(caller, "list_role_assignments")
    directory = cloud.directory
    query = request.query
    names = "include_names" in query
    rows = []
    for user_id, project_id, role_id in sorted(directory.assignments):
        if query.get("user.id", user_id) != user_id:
            continue
        if query.get("scope.project.id", project_id) != project_id:
            continue
        if query.get("role.id", role_id) != role_id:
            continue
        row = _assignment(directory, user_id, project_id, role_id, names)
        row["links"] = {
            "assignment": f"{_base(cloud)}/projects/{project_id}/users/{user_id}/roles/{role_id}"
        }
        rows.append(row)
    return listing(request, "role_assignments", rows)


def _assignment(
    directory: Directory, user_id: str, project_id: str, role_id: str, names: bool
) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id}
    project: dict[str, Any] = {"id": project_id}
    role: dict[str, Any] = {"id": role_id}
    if names:
        domain = {"id": DOMAIN_ID, "name": DOMAIN_NAME}
        user.update(name=directory.users[user_id].name, domain=domain)
        project.update(name=directory.projects[project_id].name, domain=domain)
        role["name"] = directory.roles[role_id].name
    return {"user": user, "scope": {"project": project}, "role": role}


# -- application credentials ---------------------------------------------------------------


def _own_credentials(caller: TokenRecord, user_id: str, action: str) -> None:
    if caller.user_id != user_id:
        raise Denied(action)
    if caller.app_credential is not None and caller.app_credential.restricted:
        raise DirectoryError(
            403,
            "Using method 'application_credential' is not allowed for managing additional "
            "application credentials.",
        )


def _expiry(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise DirectoryError(400, f"Invalid expires_at: {value}.") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def create_app_credential(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    user_id = request.match_info["user_id"]
    _own_credentials(caller, user_id, "create_application_credential")
    fields = await _body(request, "application_credential")
    if not isinstance(fields.get("name"), str) or not fields["name"]:
        raise DirectoryError(400, "Invalid input for field 'name': required.")
    if caller.project_id is None:
        raise DirectoryError(401, "An application credential needs a project-scoped token.")
    roles = []
    for ref in fields.get("roles") or []:
        if not isinstance(ref, dict) or not (ref.get("id") or ref.get("name")):
            raise DirectoryError(400, "Invalid input for field 'roles': each needs id or name.")
        roles.append(str(ref.get("id") or ref.get("name")))
    held = {rid for rid, _ in caller.roles}
    cred, secret = cloud.directory.add_app_credential(
        user_id,
        caller.project_id,
        fields["name"],
        roles or sorted(held),
        fields.get("secret"),
        fields.get("description"),
        _expiry(fields.get("expires_at")),
        bool(fields.get("unrestricted", False)),
    )
    view = {**_app_cred_view(cloud, cred), "secret": secret}
    return json_response({"application_credential": view}, 201)


async def list_app_credentials(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    user_id = request.match_info["user_id"]
    _self_or_admin(caller, user_id, "list_application_credentials")
    creds = [c for c in cloud.directory.app_credentials.values() if c.user_id == user_id]
    views = [_app_cred_view(cloud, c) for c in _named(creds, request)]
    return listing(request, "application_credentials", views)


async def show_app_credential(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    user_id, cred_id = request.match_info["user_id"], request.match_info["cred_id"]
    _self_or_admin(caller, user_id, "get_application_credential")
    cred = cloud.directory.app_credentials.get(cred_id)
    if cred is None or cred.user_id != user_id:
        raise DirectoryError(404, f"Could not find Application Credential: {cred_id}.")
    return json_response({"application_credential": _app_cred_view(cloud, cred)})


async def delete_app_credential(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    user_id, cred_id = request.match_info["user_id"], request.match_info["cred_id"]
    _own_credentials(caller, user_id, "delete_application_credential")
    cloud.directory.delete_app_credential(user_id, cred_id)
    book.revoke_where(cloud.name, user_id, cred_id)  # its tokens die with it, as in Keystone
    return web.Response(status=204)


# -- the token's own view ------------------------------------------------------------------


async def auth_projects(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    projects = cloud.directory.projects_of(caller.user_id)
    return listing(request, "projects", [_project_view(cloud, p) for p in projects])


async def auth_catalog(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    if caller.project_id is None:
        raise DirectoryError(403, "An unscoped token has no catalog.")
    return listing(request, "catalog", catalog(cloud))


async def list_domains(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    return listing(request, "domains", [_domain_view()])


async def show_domain(
    request: web.Request, cloud: CloudState, caller: TokenRecord, book: TokenBook
) -> web.Response:
    if request.match_info["domain_id"] != DOMAIN_ID:
        raise DirectoryError(404, f"Could not find domain: {request.match_info['domain_id']}.")
    return json_response({"domain": _domain_view()})


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/users", list_users),
    ("POST", "/users", create_user),
    ("GET", "/users/{user_id}", show_user),
    ("DELETE", "/users/{user_id}", delete_user),
    ("GET", "/users/{user_id}/projects", user_projects),
    ("GET", "/users/{user_id}/application_credentials", list_app_credentials),
    ("POST", "/users/{user_id}/application_credentials", create_app_credential),
    ("GET", "/users/{user_id}/application_credentials/{cred_id}", show_app_credential),
    ("DELETE", "/users/{user_id}/application_credentials/{cred_id}", delete_app_credential),
    ("GET", "/projects", list_projects),
    ("POST", "/projects", create_project),
    ("GET", "/projects/{project_id}", show_project),
    ("DELETE", "/projects/{project_id}", delete_project),
    ("GET", "/projects/{project_id}/users/{user_id}/roles", project_user_roles),
    ("PUT", "/projects/{project_id}/users/{user_id}/roles/{role_id}", project_user_role),
    ("HEAD", "/projects/{project_id}/users/{user_id}/roles/{role_id}", project_user_role),
    ("DELETE", "/projects/{project_id}/users/{user_id}/roles/{role_id}", project_user_role),
    ("GET", "/roles", list_roles),
    ("GET", "/roles/{role_id}", show_role),
    ("GET", "/role_assignments", role_assignments),
    ("GET", "/domains", list_domains),
    ("GET", "/domains/{domain_id}", show_domain),
    ("GET", "/auth/projects", auth_projects),
    ("GET", "/auth/catalog", auth_catalog),
]
