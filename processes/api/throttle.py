"""Rate limits of the API: a fixed window per caller (an API client, or a person), in the cache.

`API_RATE_LIMIT` requests per `API_RATE_WINDOW` seconds (0: no limit). The count is one atomic
`incr` in the shared cache (Redis in production), so every web process counts together; a caller
over the limit gets a 429 problem with Retry-After, the seconds until the window ends.

A request whose bearer token is refused has no caller yet, so it is counted per address instead
(an IPv4 address or an IPv6 /64, as the action links count): after `API_AUTH_FAILURE_LIMIT`
refused tokens in a window, every bearer token from that address gets the 429 until the window
ends, good ones included, so guessing costs the guesser time and not the database work of a
lookup per guess. The first refusal over the limit is audited.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from ninja.throttling import BaseThrottle

from processes.api.idempotency import caller_scope
from processes.audit import audit_record
from processes.clients import client_bucket

KEY = "api-rate:{caller}:{window}"
FAILURE_KEY = "api-auth-failures:{bucket}:{window}"


def _window() -> tuple[float, int, int]:
    window = settings.API_RATE_WINDOW
    now = time.time()
    return now, int(now // window) * window, window


def _incr(key: str, window: int, by: int = 1) -> int:
    cache.add(key, 0, timeout=window + 1)
    try:
        return cache.incr(key, by)
    except ValueError:  # expired between add and incr: this request opens the window
        cache.add(key, by, timeout=window + 1)
        return by


def auth_failures_retry_after(request: HttpRequest) -> int | None:
    """Seconds until the window ends if the request's address is over its refused-token limit
    (it then gets a 429 without its token being looked at), else None."""
    limit = settings.API_AUTH_FAILURE_LIMIT
    if not limit:
        return None
    now, start, window = _window()
    bucket = client_bucket(request.META.get("REMOTE_ADDR", ""))
    if (cache.get(FAILURE_KEY.format(bucket=bucket, window=start)) or 0) < limit:
        return None
    return max(1, math.ceil(start + window - now))


def auth_failure_count(request: HttpRequest) -> None:
    """Count one refused bearer token against the request's address; audit the first one over."""
    limit = settings.API_AUTH_FAILURE_LIMIT
    if not limit:
        return
    _now, start, window = _window()
    bucket = client_bucket(request.META.get("REMOTE_ADDR", ""))
    if _incr(FAILURE_KEY.format(bucket=bucket, window=start), window) == limit:
        audit_record(
            action="api.auth_throttled",
            details={"address": bucket, "failures": limit, "window_s": window},
        )


class CallerRateThrottle(BaseThrottle):
    """ninja's throttle hook, after authentication: `request.auth` is the caller."""

    def allow_request(self, request: HttpRequest) -> bool:
        limit, window = settings.API_RATE_LIMIT, settings.API_RATE_WINDOW
        caller = getattr(request, "auth", None)
        if not limit or caller is None:
            return True
        now, start, window = _window()
        count = _incr(KEY.format(caller=caller_scope(caller), window=start), window)
        if count > limit:
            request._api_retry_after = max(1, math.ceil(start + window - now))  # type: ignore[attr-defined]
            return False
        return True

    def wait(self) -> float | None:
        return None  # Retry-After is set by the 429 handler from the request (this object is shared)
