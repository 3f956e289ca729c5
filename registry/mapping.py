"""The mapping engine: who a validated caller may be at a target cloud. Default deny.

Pure: no IO. `decide()` walks the rules in (priority, name) order; the first rule whose match
fits the caller and whose targets cover the cloud decides. No such rule: a Denial, and the
proxy sends nothing to the target.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from openstackoid.registry.caller import CallerIdentity
from openstackoid.registry.index import Registry
from openstackoid.registry.model import Cloud
from openstackoid.registry.rules import MappingRule, TargetCredential, is_operator_account

MAX_DECISIONS = 65_536
"""Decisions kept per RuleBook; beyond, the cache starts afresh (a bound, not an LRU: a
decision costs a few µs to redo)."""


@dataclass(frozen=True, slots=True)
class IdentityMapping:
    """Allowed: act at `target` as `credential`, or with the caller's own token when None
    (the caller's own cloud, or a `passthrough` rule for clouds sharing one Keystone)."""

    target: str
    rule: str | None
    """None: the target is the caller's own issuer; no rule is needed."""
    credential: TargetCredential | None = None
    allow_admin: bool = False

    @property
    def identity(self) -> str:
        """The identity used at the target, for the audit log: never a secret."""
        if self.credential is not None:
            return self.credential.identity
        return (
            "caller's own token" if self.rule is None else f"caller's own token (rule {self.rule})"
        )


@dataclass(frozen=True, slots=True)
class Denial:
    """Refused: what the 403 says, naming the caller's issuer, user, project and the target."""

    caller: CallerIdentity
    target: str
    reason: str
    rule: str | None = None

    @property
    def message(self) -> str:
        return (
            f"{self.caller.describe()} may not act at cloud {self.target!r}: {self.reason}. "
            "openstackoid sent nothing to that cloud."
        )


Decision = IdentityMapping | Denial


def decide(
    rules: Iterable[MappingRule],
    credentials: Mapping[tuple[str, str], TargetCredential],
    caller: CallerIdentity,
    issuer: Cloud,
    target: Cloud,
) -> Decision:
    """The identity `caller` (validated by `issuer`) may use at `target`; `rules` in order."""
    if issuer.name != caller.issuer:
        return Denial(caller, target.name, f"the token was validated by {caller.issuer!r}")
    if target.name == issuer.name:
        return IdentityMapping(target.name, None)
    if caller.access_rules:
        reason = (
            "the token is an application credential limited by access rules, which no "
            "other cloud can enforce"
        )
        return Denial(caller, target.name, reason)
    for rule in rules:
        if caller.groups is None and rule.uses_groups and rule.applies(issuer, target):
            # Unknown groups can neither pass an allow rule nor escape a deny rule.
            reason = f"mapping rule {rule.name!r} needs the caller's groups, which are unknown"
            return Denial(caller, target.name, reason, rule.name)
        if not (rule.covers(target) and rule.matches(caller, issuer)):
            continue
        if rule.action == "deny":
            return Denial(caller, target.name, f"mapping rule {rule.name!r} denies it", rule.name)
        if rule.action == "passthrough":
            return IdentityMapping(target.name, rule.name)
        assert rule.credential is not None
        credential = credentials.get((target.name, rule.credential))
        if credential is None:
            # Fail closed: the first fitting rule decides, even when misconfigured.
            reason = (
                f"mapping rule {rule.name!r} maps to credential {rule.credential!r}, "
                "which is not registered at that cloud"
            )
            return Denial(caller, target.name, reason, rule.name)
        return IdentityMapping(target.name, rule.name, credential, rule.allow_admin)
    return Denial(caller, target.name, "no mapping rule allows it")


class RuleBook:
    """The rules and target credentials in force, decisions cached until either changes or
    the registry does (labels and groups feed selectors)."""

    def __init__(
        self,
        rules: Iterable[MappingRule] = (),
        credentials: Iterable[TargetCredential] = (),
        max_decisions: int = MAX_DECISIONS,
    ) -> None:
        self._rules: dict[str, MappingRule] = {r.name: r for r in rules}
        self._credentials: dict[tuple[str, str], TargetCredential] = {c.key: c for c in credentials}
        self._ordered: tuple[MappingRule, ...] = ()
        self.uses_groups = False
        """Whether a rule matches on groups: callers' groups are then looked up."""
        self._decisions: dict[tuple[CallerIdentity, str, str], Decision] = {}
        self._epoch = 0
        self._max = max_decisions
        self.version = 0
        """Bumped on every change, for callers caching derived data (e.g. tokens)."""
        self._changed()

    def __len__(self) -> int:
        return len(self._rules)

    def rules(self) -> tuple[MappingRule, ...]:
        """In the order they are tried."""
        return self._ordered

    def credentials(self) -> tuple[TargetCredential, ...]:
        return tuple(self._credentials[k] for k in sorted(self._credentials))

    def rule(self, name: str) -> MappingRule | None:
        return self._rules.get(name)

    def credential(self, cloud: str, name: str) -> TargetCredential | None:
        return self._credentials.get((cloud, name))

    def upsert_rule(self, rule: MappingRule) -> None:
        self._rules[rule.name] = rule
        self._changed()

    def remove_rule(self, name: str) -> MappingRule | None:
        rule = self._rules.pop(name, None)
        self._changed()
        return rule

    def upsert_credential(self, credential: TargetCredential) -> None:
        self._credentials[credential.key] = credential
        self._changed()

    def remove_credential(self, cloud: str, name: str) -> TargetCredential | None:
        credential = self._credentials.pop((cloud, name), None)
        self._changed()
        return credential

    def replace(
        self, rules: Iterable[MappingRule], credentials: Iterable[TargetCredential]
    ) -> None:
        self._rules = {r.name: r for r in rules}
        self._credentials = {c.key: c for c in credentials}
        self._changed()

    def _changed(self) -> None:
        self._ordered = tuple(sorted(self._rules.values(), key=lambda r: r.order))
        self.uses_groups = any(rule.uses_groups for rule in self._ordered)
        self._decisions = {}
        self.version += 1

    def decide(
        self, caller: CallerIdentity, issuer: Cloud, target: Cloud, epoch: int = 0
    ) -> Decision:
        """decide() over this book, cached per (caller, issuer, target). `epoch` is the
        registry's version: a different one drops every cached decision."""
        if epoch != self._epoch:
            self._decisions = {}
            self._epoch = epoch
        key = (caller, issuer.name, target.name)
        found = self._decisions.get(key)
        if found is None:
            found = decide(self._ordered, self._credentials, caller, issuer, target)
            if len(self._decisions) >= self._max:
                self._decisions = {}
            self._decisions[key] = found
        return found


def problems(book: RuleBook, registry: Registry) -> list[str]:
    """What is wrong with a rule book against a registry, one line each (an import refuses
    them): credentials of unknown clouds or that are a cloud's own operator account, rules
    naming credentials registered at none of their target clouds."""
    found = []
    for credential in book.credentials():
        if credential.cloud not in registry:
            found.append(f"target credential {credential.name!r}: no cloud {credential.cloud!r}")
        elif is_operator_account(credential, registry.get(credential.cloud)):
            found.append(
                f"target credential {credential.name!r} of cloud {credential.cloud!r} is the "
                "account the cloud is registered with (the proxy's own, often an admin): "
                "register a least-privileged application credential instead"
            )
    for rule in book.rules():
        if rule.action != "map":
            continue
        covered = [c for c in registry if rule.covers(c)]
        if not any(book.credential(c.name, rule.credential or "") for c in covered):
            found.append(
                f"mapping rule {rule.name!r}: credential {rule.credential!r} is registered at "
                f"none of its {len(covered)} target clouds"
            )
    return found
