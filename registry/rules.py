"""Identity mapping rules and the target credentials they map to, as frozen values.

A rule says who, validated by which issuing cloud, may act at which target clouds, and as
whom there: the credential of that name the operator registered at each target cloud
(application credential preferred, password allowed), the caller's own token (`passthrough`,
for clouds sharing one Keystone), or nobody (`deny`, an exception before broader rules).
Rules are tried by (priority, name); the first whose match and targets fit decides. In the
spirit of Keystone's federation mappings (remote conditions any_one_of / not_any_of).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal, assert_never

import jsonschema

from openstackoid.registry.caller import CallerIdentity
from openstackoid.registry.errors import InvalidRuleError
from openstackoid.registry.model import Cloud, Credentials
from openstackoid.scope_dsl import (
    CloudGlob,
    CloudRef,
    GroupSelector,
    LabelSelector,
    ScopeSyntaxError,
    Selector,
    parse_scope,
)

DEFAULT_PRIORITY = 100
Action = Literal["map", "passthrough", "deny"]


def _pair(*values: str | None) -> frozenset[str]:
    return frozenset(v for v in values if v)


ATTRIBUTES: Mapping[str, Callable[[CallerIdentity], frozenset[str]]] = {
    "user_id": lambda c: frozenset((c.user_id,)),
    "user_name": lambda c: _pair(c.user_name),
    "user_domain": lambda c: _pair(c.user_domain_id, c.user_domain_name),
    "project_id": lambda c: _pair(c.project_id),
    "project_name": lambda c: _pair(c.project_name),
    "project_domain": lambda c: _pair(c.project_domain_id, c.project_domain_name),
    "roles": lambda c: c.roles,
    "groups": lambda c: c.groups or frozenset(),
}
"""What a rule can match on, and the caller's values for it (domains by id or name)."""

_NEEDS_DOMAIN = {"user_name": "user_domain", "project_name": "project_domain"}
"""Names are unique only within a domain: `alice` of any domain must not pass for `alice`."""


@dataclass(frozen=True, slots=True)
class Condition:
    """Keystone-mapping-style test on a set of values (a caller's roles, or its user id)."""

    any_one_of: frozenset[str] | None = None
    """At least one of these; None: no such requirement."""
    not_any_of: frozenset[str] = frozenset()
    all_of: frozenset[str] = frozenset()

    def holds(self, values: frozenset[str]) -> bool:
        if self.any_one_of is not None and values.isdisjoint(self.any_one_of):
            return False
        return values.isdisjoint(self.not_any_of) and self.all_of <= values

    def to_data(self) -> dict[str, list[str]]:
        data = {"not_any_of": sorted(self.not_any_of), "all_of": sorted(self.all_of)}
        if self.any_one_of is not None:
            data["any_one_of"] = sorted(self.any_one_of)
        return {k: v for k, v in data.items() if v}


def selects(selector: Selector, cloud: Cloud) -> bool:
    """Whether `cloud` is one of the clouds `selector` stands for (as Registry.select)."""
    match selector:
        case CloudRef(name=name):
            return cloud.name == name
        case CloudGlob(pattern=pattern):
            return fnmatch.fnmatchcase(cloud.name, pattern)
        case LabelSelector(key=key, value=value):
            return cloud.labels.get(key) == value
        case GroupSelector(name=name):
            return name in cloud.groups
        case _:
            assert_never(selector)


@dataclass(frozen=True, slots=True)
class MappingRule:
    name: str
    issuers: tuple[Selector, ...]
    targets: tuple[Selector, ...]
    action: Action
    credential: str | None = None
    """For `map`: the name of the credential registered at each target cloud."""
    conditions: tuple[tuple[str, Condition], ...] = ()
    priority: int = DEFAULT_PRIORITY
    allow_admin: bool = False
    """A mapped credential whose token carries the `admin` role is refused unless set."""
    description: str = ""

    @property
    def order(self) -> tuple[int, str]:
        return (self.priority, self.name)

    @property
    def uses_groups(self) -> bool:
        return any(attr == "groups" for attr, _ in self.conditions)

    def applies(self, issuer: Cloud, target: Cloud) -> bool:
        """Whether the rule speaks of this issuer and target, whoever the caller."""
        return self.covers(target) and any(selects(s, issuer) for s in self.issuers)

    def covers(self, target: Cloud) -> bool:
        return any(selects(s, target) for s in self.targets)

    def matches(self, caller: CallerIdentity, issuer: Cloud) -> bool:
        if not any(selects(s, issuer) for s in self.issuers):
            return False
        return all(cond.holds(ATTRIBUTES[attr](caller)) for attr, cond in self.conditions)

    def to_data(self) -> dict[str, Any]:
        """The rule as written in a file or an admin API body (round-trips rule_from_data)."""
        match: dict[str, Any] = {"issuer": [str(s) for s in self.issuers]}
        match.update((attr, cond.to_data()) for attr, cond in self.conditions)
        data: dict[str, Any] = {
            "name": self.name,
            "priority": self.priority,
            "match": match,
            "targets": [str(s) for s in self.targets],
        }
        if self.description:
            data["description"] = self.description
        if self.action == "map":
            data["credential"] = self.credential
        else:
            data[self.action] = True
        if self.allow_admin:
            data["allow_admin"] = True
        return data


@dataclass(frozen=True, slots=True)
class TargetCredential:
    """An identity the operator registered at one cloud for mapped callers to act as."""

    cloud: str
    name: str
    credentials: Credentials = field(repr=False)
    """Secrets inside; repr shows `identity` instead."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.cloud, self.name)

    @property
    def identity(self) -> str:
        """For audit logs and repr: who this is at the cloud, never a secret."""
        creds = self.credentials
        if creds.is_application_credential:
            app_id = creds.application_credential_id
            return f"{self.name}@{self.cloud} (application credential {app_id})"
        return (
            f"{self.name}@{self.cloud} (user {creds.username}@{creds.user_domain_name}, "
            f"project {creds.project_name}@{creds.project_domain_name})"
        )

    def __repr__(self) -> str:
        return f"TargetCredential({self.identity})"

    def to_data(self, *, with_secrets: bool = False) -> dict[str, Any]:
        creds = self.credentials
        data: dict[str, Any] = {"cloud": self.cloud, "name": self.name}
        if creds.is_application_credential:
            data["application_credential_id"] = creds.application_credential_id
            if with_secrets:
                data["application_credential_secret"] = creds.application_credential_secret
        else:
            data.update(
                username=creds.username,
                user_domain_name=creds.user_domain_name,
                project_name=creds.project_name,
                project_domain_name=creds.project_domain_name,
            )
            if with_secrets:
                data["password"] = creds.password
        return data


@cache
def _validator(definition: str) -> jsonschema.protocols.Validator:
    text = resources.files("openstackoid.registry").joinpath("rules-schema.json").read_text()
    defs = json.loads(text)["$defs"]
    return jsonschema.Draft202012Validator({**defs[definition], "$defs": defs})


def _check_schema(definition: str, data: Any, where: str) -> None:
    error = jsonschema.exceptions.best_match(_validator(definition).iter_errors(data))
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path)
        name = _label(data)
        if name:
            where = f"{where} {name}: {path}" if path else f"{where} {name}"
        elif path:
            where = f"{where}/{path}"
        raise InvalidRuleError(f"{where}: {_one_line(error.message)}")


def _label(data: Any) -> str:
    """How an error names the rule or credential, when its name is readable."""
    if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
        return ""
    if isinstance(data.get("cloud"), str):
        return f"{data['name']!r} of cloud {data['cloud']!r}"
    return repr(data["name"])


def _one_line(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= 300 else line[:297] + "..."


def parse_selector(text: str, where: str) -> Selector:
    """A cloud name, glob, `@group` or `key=value`: one selector, as in a scope."""
    try:
        expr = parse_scope(text).expr_for("*")
    except ScopeSyntaxError as exc:
        message = f"{where}: {text!r} is no cloud selector ({_one_line(str(exc))})"
        raise InvalidRuleError(message) from exc
    if not isinstance(expr, CloudRef | CloudGlob | LabelSelector | GroupSelector):
        raise InvalidRuleError(
            f"{where}: {text!r} is an expression; list its clouds or selectors instead"
        )
    return expr


def _selectors(value: str | list[str], where: str) -> tuple[Selector, ...]:
    items = [value] if isinstance(value, str) else value
    return tuple(parse_selector(item, f"{where}/{i}") for i, item in enumerate(items))


def _condition(value: str | list[str] | dict[str, list[str]]) -> Condition:
    if isinstance(value, str):
        return Condition(any_one_of=frozenset((value,)))
    if isinstance(value, list):
        return Condition(any_one_of=frozenset(value))
    any_one_of = value.get("any_one_of")
    return Condition(
        any_one_of=frozenset(any_one_of) if any_one_of is not None else None,
        not_any_of=frozenset(value.get("not_any_of", ())),
        all_of=frozenset(value.get("all_of", ())),
    )


def _action(data: Mapping[str, Any], where: str) -> Action:
    given = [key for key in ("credential", "passthrough", "deny") if key in data]
    if len(given) != 1:
        raise InvalidRuleError(
            f"{where}: a rule needs exactly one of `credential: <name>`, `passthrough: true` "
            f"or `deny: true` (found {', '.join(given) or 'none'})"
        )
    return (
        "map"
        if given[0] == "credential"
        else "passthrough"
        if given[0] == "passthrough"
        else "deny"
    )


def rule_from_data(data: Any, where: str = "mapping rule") -> MappingRule:
    """A rule from its file / admin API form; InvalidRuleError says what and where."""
    _check_schema("rule", data, where)
    where = f"{where} {_label(data)}"
    match = data["match"]
    for attr, domain in _NEEDS_DOMAIN.items():
        if attr in match and domain not in match:
            raise InvalidRuleError(
                f"{where}: match.{attr} needs match.{domain} (names are unique only within "
                "a domain)"
            )
    action = _action(data, where)
    if data.get("allow_admin") and action != "map":
        raise InvalidRuleError(f"{where}: allow_admin only applies to a rule with a credential")
    return MappingRule(
        name=data["name"],
        issuers=_selectors(match["issuer"], f"{where}: match/issuer"),
        targets=_selectors(data["targets"], f"{where}: targets"),
        action=action,
        credential=data.get("credential"),
        conditions=tuple((attr, _condition(match[attr])) for attr in ATTRIBUTES if attr in match),
        priority=data.get("priority", DEFAULT_PRIORITY),
        allow_admin=bool(data.get("allow_admin", False)),
        description=data.get("description", ""),
    )


def credential_from_data(data: Any, where: str = "target credential") -> TargetCredential:
    """A target credential from its file / admin API form; one kind, complete."""
    _check_schema("credential", data, where)
    where = f"{where} {_label(data)}"
    app_id = data.get("application_credential_id")
    password_keys = ("username", "password", "project_name")
    if app_id is not None:
        if "application_credential_secret" not in data:
            raise InvalidRuleError(f"{where}: application_credential_secret is missing")
        extra = [
            k for k in (*password_keys, "user_domain_name", "project_domain_name") if k in data
        ]
        if extra:
            raise InvalidRuleError(
                f"{where}: an application credential carries its own user and project; "
                f"drop {', '.join(extra)}"
            )
        creds = Credentials(
            application_credential_id=app_id,
            application_credential_secret=data["application_credential_secret"],
        )
    else:
        missing = [k for k in password_keys if k not in data]
        if missing:
            raise InvalidRuleError(
                f"{where}: give application_credential_id and _secret (preferred), or "
                f"username, password and project_name (missing {', '.join(missing)})"
            )
        if "application_credential_secret" in data:
            raise InvalidRuleError(f"{where}: application_credential_secret without its id")
        creds = Credentials(
            username=data["username"],
            password=data["password"],
            project_name=data["project_name"],
            user_domain_name=data.get("user_domain_name", "Default"),
            project_domain_name=data.get("project_domain_name", "Default"),
        )
    return TargetCredential(data["cloud"], data["name"], creds)


def is_operator_account(credential: TargetCredential, cloud: Cloud) -> bool:
    """Whether a target credential is the cloud's own registered account (the proxy's
    operator login, usually an admin): mapping callers to it is the blanket escalation."""
    own = cloud.credentials
    if own is None:
        return False
    mine = credential.credentials
    if mine.is_application_credential:
        return own.application_credential_id == mine.application_credential_id
    return (own.username, own.user_domain_name) == (mine.username, mine.user_domain_name)
