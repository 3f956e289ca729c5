"""Identity across clouds: which token a request carries to which cloud."""

from proxy.identity.logins import Logins
from proxy.identity.strategies import (
    STRATEGIES,
    IdentityStrategy,
    Passthrough,
    ValidateAtIssuer,
    make_strategy,
)
from proxy.identity.tokens import parse_expiry, token_key

__all__ = [
    "STRATEGIES",
    "IdentityStrategy",
    "Logins",
    "Passthrough",
    "ValidateAtIssuer",
    "make_strategy",
    "parse_expiry",
    "token_key",
]
