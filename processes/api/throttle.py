"""Rate limits of the API: a fixed window per caller (an API client, or a person), in the cache.

`API_RATE_LIMIT` requests per `API_RATE_WINDOW` seconds (0: no limit). The count is one atomic
`incr` in the shared cache (Redis in production), so every web process counts together; a caller
over the limit gets a 429 problem with Retry-After, the seconds until the window ends.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from ninja.throttling import BaseThrottle

from processes.api.idempotency import caller_scope

KEY = "api-rate:{caller}:{window}"


class CallerRateThrottle(BaseThrottle):
    """ninja's throttle hook, after authentication: `request.auth` is the caller."""

    def allow_request(self, request: HttpRequest) -> bool:
        limit, window = settings.API_RATE_LIMIT, settings.API_RATE_WINDOW
        caller = getattr(request, "auth", None)
        if not limit or caller is None:
            return True
        now = time.time()
        start = int(now // window) * window
        key = KEY.format(caller=caller_scope(caller), window=start)
        cache.add(key, 0, timeout=window + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: this request opens the window
            cache.add(key, 1, timeout=window + 1)
            count = 1
        if count > limit:
            request._api_retry_after = max(1, math.ceil(start + window - now))  # type: ignore[attr-defined]
            return False
        return True

    def wait(self) -> float | None:
        return None  # Retry-After is set by the 429 handler from the request (this object is shared)
