"""Keystone tokens of every simulated cloud: issue, check, revoke.

Tokens are random and known to the process that issued them, or, given a signing key shared
by several testbed processes, self-contained and signed as Keystone's fernet tokens are with
keys shared by a region's nodes: any process holding the key validates them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["issued_at"] = self.issued_at.isoformat()
        data["expires_at"] = self.expires_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenRecord:
        ref = data.pop("app_credential")
        return cls(
            **{
                **data,
                "roles": tuple((rid, name) for rid, name in data["roles"]),
                "methods": tuple(data["methods"]),
                "issued_at": datetime.fromisoformat(data["issued_at"]),
                "expires_at": datetime.fromisoformat(data["expires_at"]),
                "app_credential": AppCredentialRef(**ref) if ref else None,
            }
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenBook:
    """Tokens of every cloud. A token is honoured only by the cloud that issued it, unless
    the clouds share identity. A revoked token is gone: validating it is a 404."""

    def __init__(self, shared_identity: bool, signing_key: bytes | None = None) -> None:
        self.shared_identity = shared_identity
        self.signing_key = signing_key
        self._tokens: dict[str, TokenRecord] = {}
        self._revoked: dict[str, datetime] = {}
        """Digests of revoked signed tokens, until they would have expired anyway."""
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
        if self.signing_key is not None:
            token = self._sign(record)
        self._tokens[token] = record
        return token, record

    def _sign(self, record: TokenRecord) -> str:
        assert self.signing_key is not None
        payload = _b64(json.dumps(record.to_json(), separators=(",", ":")).encode())
        mac = hmac.new(self.signing_key, payload.encode(), hashlib.sha256).digest()
        return f"gAAAAA{payload}.{_b64(mac)}"

    def _verify(self, token: str) -> TokenRecord | None:
        """A signed token issued by any process sharing the key, unless revoked here."""
        if self.signing_key is None or not token.startswith("gAAAAA") or "." not in token:
            return None
        payload, _, mac = token[6:].partition(".")
        expected = hmac.new(self.signing_key, payload.encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(expected, _unb64(mac)):
                return None
            record = TokenRecord.from_json(json.loads(_unb64(payload)))
        except (ValueError, TypeError, KeyError):
            return None
        if hashlib.sha256(token.encode()).hexdigest() in self._revoked:
            return None
        return record

    def check(self, cloud: str, token: str | None) -> TokenRecord | None:
        record = self._tokens.get(token) if token else None
        if record is None and token and self.signing_key is not None:
            record = self._verify(token)
            if record is not None:  # verified once per process, as a Keystone node caches
                self._drop_expired(datetime.now(UTC))
                self._tokens[token] = record
        if record is None or record.expires_at <= datetime.now(UTC):
            return None
        if record.cloud != cloud and not self.shared_identity:
            return None
        return record

    def revoke(self, token: str) -> None:
        record = self._tokens.pop(token, None)
        if self.signing_key is not None:
            record = record or self._verify(token)
            if record is not None:
                self._revoked[hashlib.sha256(token.encode()).hexdigest()] = record.expires_at

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
        if len(self._revoked) > MAX_TOKENS:
            for key in [k for k, until in self._revoked.items() if until <= now]:
                del self._revoked[key]
