"""Fixed-window request counting in the cache, for the link endpoint.

Per client IP (someone guessing tokens) and per token (someone hammering one link). With Redis
the counters are shared by every web process; with the embedded in-process cache each process
counts alone, which still bounds a single client.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


@dataclass(frozen=True)
class Verdict:
    limited: bool
    first: bool  # the first request over the limit in this window (the one worth auditing)
    scope: str = ""


def _count(key: str, window: int) -> int:
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        return 1


def link_request_count(*, ip: str, token_key: str) -> Verdict:
    """Count one request to a link from `ip` for the token hashed as `token_key`."""
    window = settings.ACTION_LINK_RATE_LIMIT_WINDOW
    for scope, key, limit in (
        ("ip", f"actionlink:rate:ip:{ip}", settings.ACTION_LINK_RATE_LIMIT_PER_IP),
        ("token", f"actionlink:rate:token:{token_key}", settings.ACTION_LINK_RATE_LIMIT_PER_TOKEN),
    ):
        count = _count(key, window)
        if count > limit:
            return Verdict(limited=True, first=count == limit + 1, scope=scope)
    return Verdict(limited=False, first=False)
