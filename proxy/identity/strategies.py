"""Identity strategies. Tokens from cloud A reach cloud B only if the strategy says so.

STRATEGIES is the one list of them: the config's validation and the CLI's choices come
from it, so a strategy is added by writing its class and naming it there.

- validate-at-issuer (default): the caller's token is validated by its issuer; the
  operator's mapping rules say who it may be at another cloud (docs/identity.md). Default
  deny.
- passthrough: the clouds share one Keystone; the caller's token goes everywhere.
- blanket-admin-UNSAFE: every validated caller becomes the account each cloud is
  registered with (usually an admin). The old behaviour, kept for trusted labs only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from openstackoid.proxy.errors import Forbidden, UpstreamUnavailable, map_upstream_errors
from openstackoid.proxy.identity import audit
from openstackoid.proxy.identity.errors import MappingDenied
from openstackoid.proxy.identity.logins import Logins
from openstackoid.proxy.identity.mapped import MappedIdentity, check_at_issuer, groups_at_issuer
from openstackoid.proxy.identity.target_tokens import TargetLogin, TargetTokens, login_as
from openstackoid.proxy.identity.validations import DEFAULT_TOKEN_CACHE_SECONDS, ValidationCache
from openstackoid.registry import Cloud, Registry
from openstackoid.registry.caller import CallerIdentity
from openstackoid.registry.errors import LoginFailed, LoginRefused, NoCredentials
from openstackoid.registry.mapping import RuleBook
from openstackoid.registry.rules import TargetCredential
from openstackoid.registry.tls import tls_for

log = logging.getLogger("openstackoid.proxy")


def _no_count(issuer: str, target: str) -> None:
    return None


@dataclass(frozen=True)
class StrategyContext:
    """What a strategy may use; each takes what it needs."""

    logins: Logins
    rules: RuleBook = field(default_factory=RuleBook)
    registry: Registry = field(default_factory=Registry)
    token_cache_seconds: float = DEFAULT_TOKEN_CACHE_SECONDS
    on_denial: Callable[[str, str], None] = _no_count
    """Called with (issuer, target) for each request a mapping refused (metrics)."""


class IdentityStrategy(Protocol):
    name: ClassVar[str]

    async def token_for(self, issuer: Cloud | None, target: Cloud, token: str | None) -> str | None:
        """The X-Auth-Token to send to `target` for a caller holding `token`."""
        ...

    def forget(self, target: Cloud) -> None:
        """Drop any token the proxy holds for `target` (it was refused)."""
        ...

    async def check_caller(self, issuer: Cloud | None, token: str | None) -> None:
        """Raise Unauthorized unless the caller's token is good, before a request fans out
        or fails over: no cloud does work for a caller nobody vouched for."""
        ...


class Passthrough:
    """The clouds share identity: the caller's token is valid everywhere."""

    name: ClassVar[str] = "passthrough"

    def __init__(self, context: StrategyContext) -> None:
        del context  # nothing to validate, nothing to log in to

    async def token_for(self, issuer: Cloud | None, target: Cloud, token: str | None) -> str | None:
        return token

    def forget(self, target: Cloud) -> None:
        return None

    async def check_caller(self, issuer: Cloud | None, token: str | None) -> None:
        return None  # every cloud checks the token itself


def _mapped(context: StrategyContext) -> MappedIdentity:
    session = context.logins.session

    async def check(issuer: Cloud, token: str) -> tuple[CallerIdentity, float]:
        return await check_at_issuer(session, issuer, token, tls_for(issuer))

    async def login(cloud: Cloud, credential: TargetCredential) -> TargetLogin:
        with map_upstream_errors(cloud.name):
            return await login_as(session, cloud, credential, tls_for(cloud))

    async def groups(issuer: Cloud, token: str, user_id: str) -> frozenset[str]:
        return await groups_at_issuer(session, issuer, token, user_id, tls_for(issuer))

    return MappedIdentity(
        context.rules,
        context.registry,
        ValidationCache(context.token_cache_seconds),
        TargetTokens(login),
        check,
        context.on_denial,
        groups,
    )


class ValidateAtIssuer:
    """The caller's token is validated by the Keystone that issued it (kept at most
    `token_cache_seconds` per issuer and token); another cloud receives the token of the
    target credential a mapping rule names, or nothing: a 403 when no rule allows it."""

    name: ClassVar[str] = "validate-at-issuer"

    def __init__(self, context: StrategyContext) -> None:
        self.mapped = _mapped(context)

    async def token_for(self, issuer: Cloud | None, target: Cloud, token: str | None) -> str | None:
        try:
            acting = await self.mapped.acting(issuer, target, token)
        except MappingDenied as exc:
            audit.note(exc.denial.caller, target.name, f"denied ({exc.denial.rule or 'no rule'})")
            raise
        audit.note(acting.caller, target.name, acting.identity)
        return acting.token

    def forget(self, target: Cloud) -> None:
        self.mapped.forget(target)

    async def check_caller(self, issuer: Cloud | None, token: str | None) -> None:
        if token is not None and issuer is not None:
            await self.mapped.caller(issuer, token)  # kept: the fan-out's own calls reuse it


class BlanketAdminUnsafe:
    """UNSAFE: every validated caller acts at every other cloud as the account that cloud
    is registered with (usually an admin): a reader of one cloud may delete another's
    images. Only for a lab where every user is trusted with every cloud."""

    name: ClassVar[str] = "blanket-admin-UNSAFE"

    def __init__(self, context: StrategyContext) -> None:
        log.warning(
            "identity strategy %s: every caller validated anywhere acts as each cloud's "
            "registered account (usually an admin); use validate-at-issuer with mapping "
            "rules outside a trusted lab",
            self.name,
        )
        self.logins = context.logins
        self.mapped = _mapped(context)

    async def token_for(self, issuer: Cloud | None, target: Cloud, token: str | None) -> str | None:
        if token is None or issuer is None or issuer.name == target.name:
            return token
        caller = await self.mapped.caller(issuer, token)
        audit.note(caller, target.name, f"{target.name}'s registered account ({self.name})")
        try:
            with map_upstream_errors(target.name):
                return (await self.logins.of(target)).token
        except NoCredentials as exc:
            raise Forbidden(f"{exc}: register them to reach it across identities") from exc
        except LoginRefused as exc:
            raise Forbidden(str(exc)) from exc
        except LoginFailed as exc:
            raise UpstreamUnavailable(str(exc)) from exc

    def forget(self, target: Cloud) -> None:
        self.logins.forget(target)

    async def check_caller(self, issuer: Cloud | None, token: str | None) -> None:
        if token is not None and issuer is not None:
            await self.mapped.caller(issuer, token)


StrategyClass = type[ValidateAtIssuer] | type[Passthrough] | type[BlanketAdminUnsafe]
STRATEGIES: dict[str, StrategyClass] = {
    cls.name: cls for cls in (ValidateAtIssuer, Passthrough, BlanketAdminUnsafe)
}
"""Every identity strategy by its configured name; the first is the default."""


def make_strategy(name: str, context: StrategyContext) -> IdentityStrategy:
    try:
        return STRATEGIES[name](context)
    except KeyError:
        raise ValueError(
            f"unknown identity strategy {name!r}: one of {', '.join(STRATEGIES)}"
        ) from None
