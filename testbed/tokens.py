"""Keystone tokens of every simulated cloud: issue, check, revoke."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

TOKEN_LIFETIME = timedelta(hours=1)
MAX_TOKENS = 10_000
"""Past this many tokens, expired ones are dropped on the next issue (long soaks)."""


@dataclass(frozen=True)
class AppCredentialRef:
    id: str
    name: str
    restricted: bool


@dataclass(frozen=True)
class TokenRecord:
    """What a token stands for; roles are (id, name) pairs, implied ones included."""

    cloud: str
    user_id: str
    user_name: str
    project_id: str | None
    project_name: str | None
    roles: tuple[tuple[str, str], ...]
    methods: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    audit_id: str
    app_credential: AppCredentialRef | None = None

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(name for _, name in self.roles)


class TokenBook:
    """Tokens of every cloud. A token is honoured only by the cloud that issued it, unless
    the clouds share identity. A revoked token is gone: validating it is a 404."""

    def __init__(self, shared_identity: bool) -> None:
        self.shared_identity = shared_identity
        self._tokens: dict[str, TokenRecord] = {}
        self.lifetimes: dict[str, timedelta] = {}
        """Per cloud, Keystone's [token] expiration when not the default hour."""

    def issue(
        self,
        cloud: str,
        user: tuple[str, str],
        project: tuple[str, str] | None,
        roles: tuple[tuple[str, str], ...],
        methods: tuple[str, ...],
        app_credential: AppCredentialRef | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[str, TokenRecord]:
        now = datetime.now(UTC)
        self._drop_expired(now)
        token = "gAAAAA" + secrets.token_urlsafe(96)
        until = now + self.lifetimes.get(cloud, TOKEN_LIFETIME)
        if expires_at is not None and expires_at < until:
            until = expires_at  # a token outlives neither its credential nor its parent token
        record = TokenRecord(
            cloud,
            user[0],
            user[1],
            project[0] if project else None,
            project[1] if project else None,
            roles,
            methods,
            now,
            until,
            secrets.token_urlsafe(16),
            app_credential,
        )
        self._tokens[token] = record
        return token, record

    def check(self, cloud: str, token: str | None) -> TokenRecord | None:
        record = self._tokens.get(token) if token else None
        if record is None or record.expires_at <= datetime.now(UTC):
            return None
        if record.cloud != cloud and not self.shared_identity:
            return None
        return record

    def revoke(self, token: str) -> None:
        self._tokens.pop(token, None)

    def revoke_where(self, cloud: str, user_id: str, app_credential_id: str | None = None) -> int:
        """Revoke a user's tokens (only those of one application credential if given), as
        Keystone does when a user or an application credential is deleted."""
        doomed = [
            token
            for token, r in self._tokens.items()
            if r.cloud == cloud
            and r.user_id == user_id
            and (
                app_credential_id is None
                or (r.app_credential is not None and r.app_credential.id == app_credential_id)
            )
        ]
        for token in doomed:
            del self._tokens[token]
        return len(doomed)

    def __len__(self) -> int:
        return len(self._tokens)

    def _drop_expired(self, now: datetime) -> None:
        if len(self._tokens) > MAX_TOKENS:
            for key in [k for k, r in self._tokens.items() if r.expires_at <= now]:
                del self._tokens[key]
