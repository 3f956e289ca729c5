"""Identity strategies. Tokens from cloud A reach cloud B only if the strategy says so.

STRATEGIES is the one list of them: the config's validation and the CLI's choices come
from it, so a strategy is added by writing its class and naming it there.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import aiohttp
from cachetools import TLRUCache

from proxy.errors import Forbidden, Unauthorized, UpstreamUnavailable, map_upstream_errors
from proxy.identity.logins import Logins
from proxy.identity.tokens import parse_expiry, token_key
from registry import Cloud
from registry.errors import LoginFailed, LoginRefused, NoCredentials
from registry.tls import tls_for


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

    def __init__(self, logins: Logins) -> None:
        del logins  # nothing to log in to

    async def token_for(self, issuer: Cloud | None, target: Cloud, token: str | None) -> str | None:
        return token

    def forget(self, target: Cloud) -> None:
        return None

    async def check_caller(self, issuer: Cloud | None, token: str | None) -> None:
        return None  # every cloud checks the token itself


def _until(_key: str, value: tuple[str, float], _now: float) -> float:
    return value[1]


class ValidateAtIssuer:
    """The caller's token is checked by the Keystone that issued it; other clouds get a token
    the proxy obtains with that cloud's registered credentials."""

    name: ClassVar[str] = "validate-at-issuer"

    def __init__(self, logins: Logins, max_tokens: int = 100_000) -> None:
        self.logins = logins
        # token digest -> (issuer, deadline)
        self._validated: TLRUCache[str, tuple[str, float]] = TLRUCache(max_tokens, _until)

    async def token_for(self, issuer: Cloud | None, target: Cloud, token: str | None) -> str | None:
        if token is None or issuer is None or issuer.name == target.name:
            return token
        # The cached cases first, without a coroutine each: nearly every request.
        key = token_key(token)
        if key not in self._validated:
            await self._validate(issuer, token, key)
        login = self.logins.kept(target)
        return login.token if login is not None else await self._service_token(target)

    def forget(self, target: Cloud) -> None:
        self.logins.forget(target)

    async def check_caller(self, issuer: Cloud | None, token: str | None) -> None:
        if token is not None and issuer is not None:
            key = token_key(token)
            if key not in self._validated:  # kept: the fan-out's own calls reuse it
                await self._validate(issuer, token, key)

    async def _validate(self, issuer: Cloud, token: str, key: str) -> None:
        headers = {"X-Auth-Token": token, "X-Subject-Token": token}
        url = f"{issuer.auth_url}/auth/tokens"
        session = self.logins.session
        with map_upstream_errors(issuer.name):
            # No redirects: the caller's token goes to its issuer and nowhere else.
            async with session.get(
                url, headers=headers, allow_redirects=False, ssl=tls_for(issuer)
            ) as resp:
                deadline = await _validated_until(resp, issuer)
        if deadline is None:
            raise Unauthorized(
                f"The token was not accepted by its issuer {issuer.name!r} "
                f"(status {resp.status}); authenticate again."
            )
        self._validated[key] = (issuer.name, deadline)

    async def _service_token(self, target: Cloud) -> str:
        try:
            with map_upstream_errors(target.name):
                return (await self.logins.of(target)).token
        except NoCredentials as exc:
            raise Forbidden(f"{exc}: register them to reach it across identities") from exc
        except LoginRefused as exc:
            raise Forbidden(str(exc)) from exc
        except LoginFailed as exc:
            raise UpstreamUnavailable(str(exc)) from exc


async def _validated_until(resp: aiohttp.ClientResponse, issuer: Cloud) -> float | None:
    """When a validated token expires (a time.monotonic() deadline), None for a refusal.
    A 5xx or a malformed body is the issuer's failure (502), not a refusal of the token."""
    if resp.status >= 500:
        raise UpstreamUnavailable(f"the Keystone of cloud {issuer.name!r} failed ({resp.status})")
    if resp.status != 200:
        return None
    try:
        body = await resp.json(content_type=None)
        return parse_expiry(body.get("token", {}).get("expires_at"))
    except (ValueError, TypeError, AttributeError) as exc:
        raise UpstreamUnavailable(f"the Keystone of cloud {issuer.name!r} sent no token") from exc


STRATEGIES: dict[str, type[Passthrough | ValidateAtIssuer]] = {
    cls.name: cls for cls in (ValidateAtIssuer, Passthrough)
}
"""Every identity strategy by its configured name; the first is the default."""


def make_strategy(name: str, logins: Logins) -> IdentityStrategy:
    try:
        return STRATEGIES[name](logins)
    except KeyError:
        raise ValueError(
            f"unknown identity strategy {name!r}: one of {', '.join(STRATEGIES)}"
        ) from None
