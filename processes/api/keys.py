"""Signing keys of API clients (Standard Webhooks): rotate them, and the keys to sign and to verify
with (processes/api/signing.py). Only a random salt per key is stored."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from processes.api import signing
from processes.api.models import ApiClient, SigningKey
from processes.audit import audit_record


def _signing_key_issue(client: ApiClient) -> str:
    row = SigningKey.objects.create(client=client, salt=secrets.token_hex(32))
    return signing.secret_text(signing.key_derive(row.salt))


def credentials_expire(credentials: QuerySet[Any], overlap: timedelta) -> datetime:
    """Make the credentials (tokens or signing keys of a client) that still work end after
    `overlap` from now, in the caller's transaction; returns that moment."""
    if overlap < timedelta(0):
        raise ValueError("the overlap must not be negative")
    until = timezone.now() + overlap
    for credential in credentials.select_for_update().filter(revoked_at__isnull=True):
        if credential.expires_at is None or credential.expires_at > until:
            credential.expires_at = until
            credential.save(update_fields=["expires_at"])
    return until


@transaction.atomic
def signing_key_rotate(
    *, client: ApiClient, overlap: timedelta = timedelta(hours=24), user: Any = None
) -> str:
    """A new signing key for `client`, returned as `whsec_…` text (shown once; only its salt is
    stored). The keys that still work expire after `overlap`: until then a webhook carries a
    signature of each, and a callback signed with either is accepted. The first key of a client
    is made the same way (with nothing to expire)."""
    until = credentials_expire(SigningKey.objects.filter(client=client), overlap)
    text = _signing_key_issue(client)
    audit_record(
        action="api.signing_key_rotated",
        actor=user if getattr(user, "pk", None) else None,
        details={"client": client.name, "old_keys_expire_at": until.isoformat()},
    )
    return text


def signing_keys(client: ApiClient) -> list[SigningKey]:
    """The client's usable signing keys, newest first."""
    now = timezone.now()
    return [
        key
        for key in SigningKey.objects.filter(client=client, revoked_at__isnull=True).order_by(
            "-created_at", "-id"
        )
        if key.usable(now)
    ]


def signing_keys_for_sending(client: ApiClient) -> list[bytes]:
    """The keys a webhook to `client` is signed with (each usable key, under SECRET_KEY)."""
    return [signing.key_derive(key.salt) for key in signing_keys(client)]


def signed_message_verify(*, client: ApiClient, headers: Any, body: bytes) -> tuple[str, int]:
    """(id, timestamp) of a message `client` signed; raises signing.SignatureInvalid (also when
    the client has no usable key)."""
    keys = signing.keys_for_verifying(key.salt for key in signing_keys(client))
    if not keys:
        raise signing.SignatureInvalid("bad-signature", "This client has no signing key; rotate one first.")
    return signing.verify(keys, headers, body)
