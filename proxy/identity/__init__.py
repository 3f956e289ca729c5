"""Identity across clouds: which token a request carries to which cloud."""

from openstackoid.proxy.identity.logins import Logins
from openstackoid.proxy.identity.strategies import (
    STRATEGIES,
    BlanketAdminUnsafe,
    IdentityStrategy,
    Passthrough,
    StrategyContext,
    ValidateAtIssuer,
    make_strategy,
)
from openstackoid.proxy.identity.tokens import parse_expiry, token_key

__all__ = [
    "STRATEGIES",
    "BlanketAdminUnsafe",
    "IdentityStrategy",
    "Logins",
    "Passthrough",
    "StrategyContext",
    "ValidateAtIssuer",
    "make_strategy",
    "parse_expiry",
    "token_key",
]
