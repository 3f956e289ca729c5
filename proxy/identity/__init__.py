"""Identity across clouds: which token a request carries to which cloud."""

from proxy.identity.strategies import (
    IdentityStrategy,
    Passthrough,
    ValidateAtIssuer,
    make_strategy,
    parse_expiry,
    token_key,
)

__all__ = [
    "IdentityStrategy",
    "Passthrough",
    "ValidateAtIssuer",
    "make_strategy",
    "parse_expiry",
    "token_key",
]
