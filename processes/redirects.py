"""Where a user-supplied `next` may send the browser: only a relative path on this site.

`url_has_allowed_host_and_scheme` alone accepts `//this-host/...` (scheme-relative) and lets
the caller decide about schemes; a `next` here is always one of our own pages, so anything that
is not a plain path starting with exactly one "/" falls back.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next_url(request: HttpRequest, value: str | None, fallback: str) -> str:
    """`value` when it is a relative path on this site, else `fallback`."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return fallback
    # Browsers drop tabs and newlines inside URLs ("/\t/evil" is "//evil") and read "\" as "/".
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in value):
        return fallback
    if not url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return fallback
    return value
