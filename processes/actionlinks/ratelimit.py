"""Fixed-window request counting in the cache, for the link endpoint.

Per client (someone guessing tokens) and per token (someone hammering one link). A client is
its IPv4 address, or its IPv6 /64: one subscriber usually gets a whole /64 and may rotate
through it freely, so a bucket per full IPv6 address would not bound anyone.

Every counter is a cache key with the window as its timeout, so the counters cannot outgrow
the requests of one window: a flood of new addresses or tokens only adds keys that expire (and
the in-process cache culls beyond its MAX_ENTRIES). With Redis the counters are shared by every
web process; with the embedded in-process cache each process counts alone, which still bounds
a single client.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from processes.clients import client_bucket


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
    """Count one request to a link from `ip` (its bucket) for the token hashed as `token_key`."""
    window = settings.ACTION_LINK_RATE_LIMIT_WINDOW
    for scope, key, limit in (
        ("ip", f"actionlink:rate:ip:{client_bucket(ip)}", settings.ACTION_LINK_RATE_LIMIT_PER_IP),
        ("token", f"actionlink:rate:token:{token_key}", settings.ACTION_LINK_RATE_LIMIT_PER_TOKEN),
    ):
        count = _count(key, window)
        if count > limit:
            return Verdict(limited=True, first=count == limit + 1, scope=scope)
    return Verdict(limited=False, first=False)
