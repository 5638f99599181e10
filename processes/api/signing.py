"""Standard Webhooks signatures (https://www.standardwebhooks.com/): both directions.

A message is signed over `"{webhook-id}.{webhook-timestamp}.{body}"` with HMAC-SHA256, and the
`webhook-signature` header holds one or more space-separated `v1,<base64>` signatures (several
during a key rotation). A receiver accepts a message whose timestamp is within `TOLERANCE` of its
clock and that carries a signature of one of its keys.

The keys are never stored. A client's signing key row holds a random salt, and the key is an HMAC
of that salt under the server's `SECRET_KEY` (`key_derive`). A copy of the database alone gives no
key; changing `SECRET_KEY` changes every key, so verification also tries the keys derived under
`SECRET_KEY_FALLBACKS` (the rotation Django already documents for sessions and signing).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta

from django.conf import settings
from django.utils.crypto import salted_hmac

#: How far a message's timestamp may be from the receiver's clock, either way.
TOLERANCE = timedelta(minutes=5)
SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's marker of a secret's text form, not a secret
_KEY_SALT = "processes.api.signing.key"


class SignatureInvalid(Exception):
    """A message that is not signed right. `reason` is a stable slug for problem types and logs:
    `missing-headers`, `bad-timestamp`, `stale`, `bad-signature`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def key_derive(salt: str, *, secret_key: str | None = None) -> bytes:
    """The 32-byte signing key of a key row's `salt`, under `secret_key` (default SECRET_KEY)."""
    return salted_hmac(_KEY_SALT, salt, secret=secret_key, algorithm="sha256").digest()


def keys_for_verifying(salts: Iterable[str]) -> list[bytes]:
    """The keys a signature may be made with: each salt under SECRET_KEY and its fallbacks."""
    secret_keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [key_derive(salt, secret_key=secret_key) for salt in salts for secret_key in secret_keys]


def secret_text(key: bytes) -> str:
    """A key as the spec writes it for people and configuration: `whsec_<base64>`."""
    return SECRET_PREFIX + base64.b64encode(key).decode()


def secret_parse(text: str) -> bytes:
    """The key of a `whsec_…` text (what a sender configures)."""
    if not text.startswith(SECRET_PREFIX):
        raise ValueError(f"a signing secret starts with {SECRET_PREFIX}")
    try:
        return base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise ValueError("a signing secret is whsec_ and base64") from None


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of a message."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def headers_sign(
    keys: Sequence[bytes], msg_id: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """The three headers of a message signed with every key in `keys` (several during a rotation)."""
    if not keys:
        raise ValueError("no key to sign with")
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": " ".join(signature(key, msg_id, ts, body) for key in keys),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


def verify(
    keys: Sequence[bytes], headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> tuple[str, int]:
    """The message's (id, timestamp) if it is signed with one of `keys` within the tolerance;
    raises SignatureInvalid otherwise. `headers` may use any case (a request's HttpHeaders or a
    plain dict)."""
    msg_id = _header(headers, "webhook-id").strip()
    raw_ts = _header(headers, "webhook-timestamp").strip()
    signatures = _header(headers, "webhook-signature").split()
    if not msg_id or not raw_ts or not signatures:
        raise SignatureInvalid(
            "missing-headers", "Sign the message: webhook-id, webhook-timestamp and webhook-signature."
        )
    if len(msg_id) > 255:
        raise SignatureInvalid("missing-headers", "webhook-id is longer than 255 characters.")
    try:
        timestamp = int(raw_ts)
    except ValueError:
        raise SignatureInvalid(
            "bad-timestamp", "webhook-timestamp is not whole seconds since the epoch."
        ) from None
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > TOLERANCE.total_seconds():
        raise SignatureInvalid(
            "stale",
            f"webhook-timestamp is more than {int(TOLERANCE.total_seconds())} s from the server's clock.",
        )
    expected = [signature(key, msg_id, timestamp, body) for key in keys]
    # Compare every pair (no early exit on the first match's position).
    matched = False
    for given in signatures:
        for candidate in expected:
            matched |= hmac.compare_digest(given.encode(), candidate.encode())
    if not matched:
        raise SignatureInvalid("bad-signature", "No signature matches a key of this client.")
    return msg_id, timestamp
