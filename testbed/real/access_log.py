"""Reading the access logs the real services write (one JSON line per request received)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path

TOKEN_DIGEST_CHARS = 16
"""As many hex digits of a token's sha256 as ``_wsgi_entry`` logs."""


def token_digest(token: str) -> str:
    """How an access log names a token (the token itself is never written)."""
    return hashlib.sha256(token.encode()).hexdigest()[:TOKEN_DIGEST_CHARS]


@dataclass(frozen=True)
class AccessEntry:
    """One request as a service received it, and who its auth middleware said it was from."""

    time: float
    method: str
    path: str
    status: int
    user_agent: str | None = None
    request_id: str | None = None
    token: str | None = None
    """Digest of X-Auth-Token."""
    service_token: str | None = None
    """Digest of X-Service-Token."""
    scope_header: str | None = None
    issued_token: str | None = None
    """Digest of the X-Subject-Token a Keystone answered a POST with."""
    user_id: str | None = None
    user_name: str | None = None
    project_id: str | None = None
    roles: str | None = None
    """The token's roles, comma-separated, as keystonemiddleware resolved them."""
    service_user_name: str | None = None

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(role for role in (self.roles or "").split(",") if role)

    @property
    def line(self) -> str:
        """The entry as a person reads it in the demo: no digest is a secret."""
        parts = [f"{self.method} {self.path} -> {self.status}"]
        if self.user_agent:
            parts.append(f"agent={self.user_agent.split()[0]}")
        parts.append(f"token={self.token or '-'}")
        parts.append(f"service_token={self.service_token or '-'}")
        if self.user_name:
            parts.append(f"user={self.user_name}({(self.user_id or '')[:8]})")
        if self.roles:
            parts.append(f"roles={self.roles}")
        if self.issued_token:
            parts.append(f"issued={self.issued_token}")
        return "  ".join(parts)


_KNOWN = {field.name for field in fields(AccessEntry)}


def read_access_log(path: Path) -> list[AccessEntry]:
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        if line.strip():
            data = json.loads(line)
            entries.append(AccessEntry(**{k: v for k, v in data.items() if k in _KNOWN}))
    return entries


def issued_tokens(keystone_log: Path, agent_mark: str = "") -> set[str]:
    """Digests of the tokens a Keystone issued, to clients whose User-Agent has the mark."""
    return {
        entry.issued_token
        for entry in read_access_log(keystone_log)
        if entry.issued_token and agent_mark in (entry.user_agent or "")
    }
