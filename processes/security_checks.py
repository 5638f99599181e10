"""`check --deploy`: the hardening that production must not run without (docs/security-notes-harden.md)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register

UNSAFE_SCRIPT_SOURCES = {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"}


@register(Tags.security, deploy=True)
def content_security_policy_check(app_configs, **kwargs):
    """The CSP must be enforced (not only reported) and must not let inline or foreign script run."""
    policy = getattr(settings, "CONTENT_SECURITY_POLICY", None)
    if not policy or "csp.middleware.CSPMiddleware" not in settings.MIDDLEWARE:
        return [
            Warning(
                "No Content-Security-Policy is enforced (CSP_REPORT_ONLY is on, or the middleware is missing).",
                hint="Unset CSP_REPORT_ONLY once the report shows no violation.",
                id="portal.W002",
            )
        ]
    directives = policy.get("DIRECTIVES", {})
    scripts = set(directives.get("script-src") or directives.get("default-src") or [])
    if scripts & UNSAFE_SCRIPT_SOURCES:
        return [
            Warning(
                f"The Content-Security-Policy lets unsafe scripts run: {sorted(scripts & UNSAFE_SCRIPT_SOURCES)}.",
                hint="Move inline script to static files, or give it the request's nonce.",
                id="portal.W003",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def login_throttling_check(app_configs, **kwargs):
    if not settings.AXES_ENABLED:
        return [
            Warning(
                "Login throttling is off (AXES_ENABLED=0): passwords can be guessed without limit.",
                hint="Unset AXES_ENABLED.",
                id="portal.W004",
            )
        ]
    return []
