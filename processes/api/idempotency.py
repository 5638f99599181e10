"""Retry-safe POSTs: the IETF `Idempotency-Key` header (draft-ietf-httpapi-idempotency-key-header).

Every POST of the API goes through `idempotent`. The key is optional; when a request sends one:

- the first request with the key runs, and its response (status, body, content type, Location)
  is kept for `API_IDEMPOTENCY_TTL` seconds, 4xx answers included (as the draft says: a retry
  of a refused request is refused alike), never a 5xx or an exception;
- a retry with the same key and the same request (method, path and the SHA-256 of the canonical
  JSON body) gets that response again, with `Idempotent-Replayed: true`;
- the same key with another request is a 422 problem (`idempotency-key-reused`);
- a retry while the first is still running is a 409 problem (`idempotency-key-in-flight`);
- an empty key, or one longer than 255 characters, is a 400 problem (`idempotency-key-invalid`).

Keys are scoped per caller (an API client, or a person): two callers never see each other's.

Concurrency: the in-flight row is inserted and committed in its own transaction before the work
starts. The unique (caller, key) makes a concurrent second INSERT wait for the first and then fail
(IntegrityError), so exactly one request does the work; the other reads the row and answers 409
(or replays, if the first finished meanwhile). The work and the row's "done" update commit in one
transaction, so a process that exists always has its stored response. A request that fails (an
exception, a 5xx) deletes its row, so a retry runs again.

The API's views are not wrapped in ATOMIC_REQUESTS (processes/api/api.py): this module opens the
transactions itself, and a POST without a key still runs in one.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from processes.api.models import ApiClient, IdempotencyRecord
from processes.api.problems import Problem

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255

ErrorResponder = Callable[[HttpRequest, Exception], HttpResponse]


def key_parse(raw: str | None) -> str | None:
    """The key of an `Idempotency-Key` header: an sf-string (`"abc"`, as the draft writes it) or
    the bare value; None when the header is absent. Raises a 400 problem for an empty or too long
    key."""
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key:
        raise Problem(400, "The Idempotency-Key header is empty.", slug="idempotency-key-invalid")
    if len(key) > MAX_KEY_LENGTH:
        raise Problem(
            400,
            f"The Idempotency-Key is longer than {MAX_KEY_LENGTH} characters.",
            slug="idempotency-key-invalid",
        )
    if not key.isprintable() or not key.isascii():
        raise Problem(400, "The Idempotency-Key must be printable ASCII.", slug="idempotency-key-invalid")
    return key


def caller_scope(caller: Any) -> str:
    """Whose keys these are: `client:<id>` or `user:<id>`."""
    if isinstance(caller, ApiClient):
        return f"client:{caller.pk}"
    return f"user:{caller.pk}"


def request_fingerprint(request: HttpRequest) -> str:
    """SHA-256 of the method, the path and the body; a JSON body in its canonical form (sorted
    keys, no spaces), so the same payload written differently is the same request."""
    body = request.body
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        payload = canonical.encode()
    except (ValueError, UnicodeDecodeError):
        payload = body
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    digest.update(payload)
    return digest.hexdigest()


def _ttl() -> timedelta:
    return timedelta(seconds=settings.API_IDEMPOTENCY_TTL)


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(record.body, status=record.status, content_type=record.content_type)
    if record.location:
        response["Location"] = record.location
    response[REPLAYED_HEADER] = "true"
    return response


def _claim(
    *, caller: str, key: str, request: HttpRequest, fingerprint: str
) -> IdempotencyRecord | HttpResponse:
    """Insert the in-flight row (committed at once), or answer from the row another request made."""
    for _attempt in range(2):
        now = timezone.now()
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    caller=caller,
                    key=key,
                    method=request.method or "",
                    path=request.path[:500],
                    fingerprint=fingerprint,
                    created_at=now,
                    expires_at=now + _ttl(),
                )
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(caller=caller, key=key).first()
        if existing is None:  # deleted meanwhile (its request failed, or it expired): try again
            continue
        if existing.expires_at <= now:
            IdempotencyRecord.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
            continue
        if existing.fingerprint != fingerprint:
            raise Problem(
                422,
                "This Idempotency-Key was used with another request (method, path or body); "
                "use a new key for a new request.",
                slug="idempotency-key-reused",
            )
        if existing.state == IdempotencyRecord.State.IN_FLIGHT:
            raise Problem(
                409,
                "A request with this Idempotency-Key is still running; retry later.",
                slug="idempotency-key-in-flight",
                headers={"Retry-After": "1"},
            )
        return _replay(existing)
    raise Problem(
        409,
        "A request with this Idempotency-Key is changing; retry later.",
        slug="idempotency-key-in-flight",
        headers={"Retry-After": "1"},
    )


def _finish(record: IdempotencyRecord, response: HttpResponse) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT).update(
        state=IdempotencyRecord.State.DONE,
        status=response.status_code,
        content_type=response.get("Content-Type", "")[:100],
        body=response.content.decode(),
        location=response.get("Location", "")[:500],
    )


def _forget(record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT).delete()


def idempotent_with(
    respond: ErrorResponder,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """The `idempotent` decorator of one API: `respond` turns an exception into the API's answer
    (its exception handlers), re-raising what none handles."""

    def idempotent(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        """Make a POST endpoint honour `Idempotency-Key` (see the module docstring). The endpoint
        returns an HttpResponse (that is what is stored) and runs in a transaction."""

        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            key = key_parse(request.headers.get(HEADER))
            if key is None:
                with transaction.atomic():
                    return view(request, *args, **kwargs)
            claimed = _claim(
                caller=caller_scope(request.auth),  # type: ignore[attr-defined]
                key=key,
                request=request,
                fingerprint=request_fingerprint(request),
            )
            if isinstance(claimed, HttpResponse):
                return claimed
            try:
                with transaction.atomic():
                    response = view(request, *args, **kwargs)
                    if response.status_code < 500:
                        _finish(claimed, response)
            except Exception as exc:
                try:
                    response = respond(request, exc)
                except BaseException:
                    _forget(claimed)
                    raise
                # A refusal is kept like a success; the work it may have begun was rolled back.
                if response.status_code < 500:
                    with transaction.atomic():
                        _finish(claimed, response)
                    return response
            except BaseException:
                _forget(claimed)
                raise
            if response.status_code >= 500:
                _forget(claimed)
            return response

        # ninja reads the parameters' types from the signature: resolve them where `view` lives.
        wrapped.__signature__ = inspect.signature(view, eval_str=True)  # type: ignore[attr-defined]
        return wrapped

    return idempotent


def idempotency_records_prune(*, now: Any = None) -> int:
    """Delete the keys past their keeping time (beat runs this); the number deleted. A row still
    in flight past its expiry belongs to a request that died without cleaning up."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
