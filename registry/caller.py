"""Who a validated caller is, as the issuing cloud's Keystone says (GET /v3/auth/tokens)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class CallerIdentity:
    """A caller whose token its issuer validated. Names and ids both: rules may match either.

    Hashable (the engine caches decisions by it); holds no token.
    """

    issuer: str
    """The registry name of the cloud whose Keystone validated the token."""
    user_id: str
    user_name: str = ""
    user_domain_id: str = ""
    user_domain_name: str = ""
    project_id: str | None = None
    """None for a domain- or system-scoped token."""
    project_name: str | None = None
    project_domain_id: str | None = None
    project_domain_name: str | None = None
    roles: frozenset[str] = frozenset()
    """Role names on the token's scope."""
    groups: frozenset[str] | None = None
    """Group ids; None while unknown. A federated token names them
    (user.OS-FEDERATION.groups); for other users the proxy asks the issuer when a rule
    needs them (GET /v3/users/{id}/groups, with the caller's own token)."""
    access_rules: bool = False
    """The token comes from an application credential limited to some API calls (access
    rules): only its own cloud can enforce them."""

    def describe(self) -> str:
        """For 403 messages and logs: issuer, user and project, ids beside names."""
        user = f"{self.user_name} ({self.user_id})" if self.user_name else self.user_id
        if self.project_id is None:
            project = "no project"
        elif self.project_name:
            project = f"project {self.project_name} ({self.project_id})"
        else:
            project = f"project {self.project_id}"
        return f"user {user} of {self.issuer}, {project}"


def _part(token: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = token.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"token.{key} is not an object")
    return value


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a string")
    return value


def _names(items: Any, key: str, what: str) -> frozenset[str]:
    if items is None:
        return frozenset()
    if not isinstance(items, list):
        raise ValueError(f"{what} is not a list")
    found = set()
    for item in items:
        if not isinstance(item, Mapping):
            raise ValueError(f"an entry of {what} is not an object")
        found.add(_text(item.get(key), f"{what}[].{key}"))
    found.discard("")
    return frozenset(found)


def caller_from_token(issuer: str, body: Any) -> CallerIdentity:
    """The caller described by Keystone's answer to GET /v3/auth/tokens. A body without a
    user id raises ValueError: the issuer answered 200 with something that is no token."""
    if not isinstance(body, Mapping) or not isinstance(body.get("token"), Mapping):
        raise ValueError("the answer has no token object")
    token: Mapping[str, Any] = body["token"]
    user = _part(token, "user")
    user_id = _text(user.get("id"), "token.user.id")
    if not user_id:
        raise ValueError("the token names no user id")
    user_domain = _part(user, "domain")
    project = _part(token, "project")
    project_domain = _part(project, "domain")
    federation = _part(user, "OS-FEDERATION")
    app_credential = _part(token, "application_credential")
    return CallerIdentity(
        issuer=issuer,
        user_id=user_id,
        user_name=_text(user.get("name"), "token.user.name"),
        user_domain_id=_text(user_domain.get("id"), "token.user.domain.id"),
        user_domain_name=_text(user_domain.get("name"), "token.user.domain.name"),
        project_id=_text(project.get("id"), "token.project.id") or None,
        project_name=_text(project.get("name"), "token.project.name") or None,
        project_domain_id=_text(project_domain.get("id"), "token.project.domain.id") or None,
        project_domain_name=_text(project_domain.get("name"), "token.project.domain.name") or None,
        roles=_names(token.get("roles"), "name", "token.roles"),
        groups=_names(federation.get("groups"), "id", "token.user.OS-FEDERATION.groups")
        if federation
        else None,
        access_rules=bool(app_credential.get("access_rules")),
    )


def token_roles(body: Any) -> frozenset[str]:
    """The role names of a Keystone token answer (a login's, where only they matter)."""
    token = body.get("token") if isinstance(body, Mapping) else None
    if not isinstance(token, Mapping):
        raise ValueError("the answer has no token object")
    return _names(token.get("roles"), "name", "token.roles")


def group_ids(body: Any) -> frozenset[str]:
    """The group ids of Keystone's answer to GET /v3/users/{id}/groups."""
    if not isinstance(body, Mapping):
        raise ValueError("the answer is not an object")
    return _names(body.get("groups"), "id", "groups")
