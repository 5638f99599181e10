"""`check --deploy`: email links need a public https PORTAL_BASE_URL in production."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Tags, Warning, register

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}  # noqa: S104 - compared, not bound


@register(Tags.security, deploy=True)
def base_url_check(app_configs, **kwargs):
    """The default PORTAL_BASE_URL points at the developer's machine: every email link sent
    from production would lead there. The settings already refuse a malformed one."""
    parts = urlsplit(settings.PORTAL_BASE_URL)
    if parts.hostname in LOOPBACK_HOSTS or parts.scheme != "https":
        return [
            Warning(
                f"PORTAL_BASE_URL is {settings.PORTAL_BASE_URL}: links in emails would not reach the "
                "portal, or would travel unencrypted.",
                hint="Set PORTAL_BASE_URL to the portal's public https address.",
                id="portal.W001",
            )
        ]
    return []
