"""One cloud's Keystone data: users, projects, roles, role assignments, application credentials.

Built on a cloud's first identity request, so thousands of idle clouds cost nothing. Secrets
(passwords, application credential secrets) are kept as salted digests, as Keystone does.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from openstackoid.testbed.model import (
    DOMAIN_ID,
    PROJECT_NAME,
    SERVICE_PROJECT_NAME,
    SERVICE_USERNAME,
    SimCloudInfo,
)

ROLE_NAMES = ("admin", "member", "reader", "service")
IMPLIED = {"admin": ("member",), "member": ("reader",)}
"""Keystone bootstrap's implied roles: admin implies member, member implies reader."""


class DirectoryError(Exception):
    """A request Keystone would refuse; status and message in Keystone's terms."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _new_id() -> str:
    return uuid.uuid4().hex


def _id_for(kind: str, name: str, info: SimCloudInfo | None) -> str:
    """Bootstrap's users and projects have the same ids on every run; later ones are random."""
    return info.stable_hex(f"{kind}/{name}") if info else _new_id()


def _duplicate(kind: str, name: str) -> DirectoryError:
    return DirectoryError(
        409,
        f"Conflict occurred attempting to store {kind} - "
        f"Duplicate entry found with name {name} at domain ID {DOMAIN_ID}.",
    )


@dataclass(frozen=True)
class Secret:
    """A salted digest of a password or application credential secret."""

    salt: bytes
    digest: bytes

    @classmethod
    def of(cls, clear: str) -> Secret:
        salt = secrets.token_bytes(16)
        return cls(salt, hashlib.sha256(salt + clear.encode()).digest())

    def matches(self, clear: object) -> bool:
        if not isinstance(clear, str):
            return False
        return hmac.compare_digest(self.digest, hashlib.sha256(self.salt + clear.encode()).digest())


@dataclass(frozen=True)
class Role:
    id: str
    name: str


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    domain_id: str = DOMAIN_ID
    description: str = ""
    enabled: bool = True


@dataclass(frozen=True)
class User:
    id: str
    name: str
    password: Secret | None = field(repr=False)
    domain_id: str = DOMAIN_ID
    default_project_id: str | None = None
    enabled: bool = True
    description: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class AppCredential:
    id: str
    name: str
    user_id: str
    project_id: str
    secret: Secret = field(repr=False)
    role_ids: tuple[str, ...]
    description: str | None = None
    expires_at: datetime | None = None
    unrestricted: bool = False


class Directory:
    """A cloud's identity data and the checks Keystone makes on it."""

    def __init__(self, info: SimCloudInfo) -> None:
        self.cloud = info.name
        self.roles: dict[str, Role] = {}
        self.projects: dict[str, Project] = {}
        self.users: dict[str, User] = {}
        self.assignments: set[tuple[str, str, str]] = set()
        """(user id, project id, role id)."""
        self.app_credentials: dict[str, AppCredential] = {}
        for name in ROLE_NAMES:
            self.roles[info.stable_hex(f"role/{name}")] = Role(
                info.stable_hex(f"role/{name}"), name
            )
        admin_project = self.add_project(PROJECT_NAME, f"admin project of {info.name}", info)
        service = self.add_project(SERVICE_PROJECT_NAME, "services of this cloud", info)
        admin = self.add_user(info.username, info.password, admin_project.id, info)
        nova = self.add_user(SERVICE_USERNAME, info.service_password, service.id, info)
        self.grant(admin.id, admin_project.id, "admin")
        self.grant(nova.id, service.id, "admin")
        self.grant(nova.id, service.id, "service")

    # -- writes ------------------------------------------------------------------------------

    def add_project(
        self, name: str, description: str = "", info: SimCloudInfo | None = None
    ) -> Project:
        if self.find_project(name) is not None:
            raise _duplicate("project", name)
        project = Project(_id_for("project", name, info), name, description=description)
        self.projects[project.id] = project
        return project

    def add_user(
        self,
        name: str,
        password: str | None,
        default_project_id: str | None = None,
        info: SimCloudInfo | None = None,
        description: str | None = None,
        email: str | None = None,
    ) -> User:
        if self.find_user(name) is not None:
            raise _duplicate("user", name)
        user_id = _id_for("user", name, info)
        secret = Secret.of(password) if password is not None else None
        user = User(user_id, name, secret, DOMAIN_ID, default_project_id, True, description, email)
        self.users[user.id] = user
        return user

    def delete_user(self, user_id: str) -> None:
        if self.users.pop(user_id, None) is None:
            raise DirectoryError(404, f"Could not find user: {user_id}.")
        self.assignments = {a for a in self.assignments if a[0] != user_id}
        for cred in [c for c in self.app_credentials.values() if c.user_id == user_id]:
            del self.app_credentials[cred.id]

    def delete_project(self, project_id: str) -> None:
        if self.projects.pop(project_id, None) is None:
            raise DirectoryError(404, f"Could not find project: {project_id}.")
        self.assignments = {a for a in self.assignments if a[1] != project_id}

    def grant(self, user_id: str, project_id: str, role: str) -> None:
        """Give `role` (a name or id) on a project to a user."""
        found = self.role(role)
        self.user(user_id)
        self.project(project_id)
        self.assignments.add((user_id, project_id, found.id))

    def revoke_role(self, user_id: str, project_id: str, role: str) -> None:
        key = (user_id, project_id, self.role(role).id)
        if key not in self.assignments:
            raise DirectoryError(404, f"Could not find role assignment: {key[2]}.")
        self.assignments.discard(key)

    def add_app_credential(
        self,
        user_id: str,
        project_id: str,
        name: str,
        roles: list[str] | None = None,
        secret: str | None = None,
        description: str | None = None,
        expires_at: datetime | None = None,
        unrestricted: bool = False,
    ) -> tuple[AppCredential, str]:
        """A new application credential and its secret (shown once, as Keystone does).
        Roles default to all of the user's roles on the project; each must be one of them."""
        held = self.direct_role_ids(user_id, project_id)
        if not held:
            raise DirectoryError(
                403, f"User {user_id} has no role on project {project_id}: no credential."
            )
        role_ids = tuple(self.role(r).id for r in roles) if roles else tuple(sorted(held))
        missing = [r for r in role_ids if r not in self.effective_role_ids(user_id, project_id)]
        if missing:
            raise DirectoryError(
                400,
                f"Invalid application credential: roles {', '.join(missing)} are not "
                f"assigned to user {user_id} on project {project_id}.",
            )
        if any(c.user_id == user_id and c.name == name for c in self.app_credentials.values()):
            raise DirectoryError(
                409, f"Conflict occurred attempting to store application_credential - {name}."
            )
        clear = secret or secrets.token_urlsafe(64)
        cred = AppCredential(
            _new_id(),
            name,
            user_id,
            project_id,
            Secret.of(clear),
            role_ids,
            description,
            expires_at,
            unrestricted,
        )
        self.app_credentials[cred.id] = cred
        return cred, clear

    def delete_app_credential(self, user_id: str, cred_id: str) -> AppCredential:
        cred = self.app_credentials.get(cred_id)
        if cred is None or cred.user_id != user_id:
            raise DirectoryError(404, f"Could not find Application Credential: {cred_id}.")
        del self.app_credentials[cred_id]
        return cred

    # -- reads -------------------------------------------------------------------------------

    def role(self, ref: str) -> Role:
        found = self.roles.get(ref) or next((r for r in self.roles.values() if r.name == ref), None)
        if found is None:
            raise DirectoryError(404, f"Could not find role: {ref}.")
        return found

    def user(self, user_id: str) -> User:
        found = self.users.get(user_id)
        if found is None:
            raise DirectoryError(404, f"Could not find user: {user_id}.")
        return found

    def project(self, project_id: str) -> Project:
        found = self.projects.get(project_id)
        if found is None:
            raise DirectoryError(404, f"Could not find project: {project_id}.")
        return found

    def find_user(self, name: str, domain_id: str = DOMAIN_ID) -> User | None:
        return next(
            (u for u in self.users.values() if u.name == name and u.domain_id == domain_id), None
        )

    def find_project(self, name: str, domain_id: str = DOMAIN_ID) -> Project | None:
        return next(
            (p for p in self.projects.values() if p.name == name and p.domain_id == domain_id),
            None,
        )

    def direct_role_ids(self, user_id: str, project_id: str) -> set[str]:
        return {r for u, p, r in self.assignments if u == user_id and p == project_id}

    def effective_role_ids(self, user_id: str, project_id: str) -> set[str]:
        """Assigned roles plus the roles they imply, as in a Keystone token."""
        return self.expand(self.direct_role_ids(user_id, project_id))

    def expand(self, role_ids: set[str] | tuple[str, ...]) -> set[str]:
        names = [self.roles[r].name for r in role_ids if r in self.roles]
        seen: set[str] = set()
        while names:
            name = names.pop()
            if name not in seen:
                seen.add(name)
                names.extend(IMPLIED.get(name, ()))
        return {self.role(name).id for name in seen}

    def projects_of(self, user_id: str) -> list[Project]:
        ids = {p for u, p, _ in self.assignments if u == user_id}
        return [self.projects[p] for p in sorted(ids) if p in self.projects]
