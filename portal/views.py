"""Probes: /healthz (the process answers) and /readyz (its dependencies answer)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache

from portal.health import arun_checks


@login_not_required
@never_cache
@transaction.non_atomic_requests
async def healthz(request):
    """Liveness: no database, no broker; only that this process serves requests."""
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
@transaction.non_atomic_requests
async def readyz(request):
    """Readiness: database, broker and channel layer; 503 naming each part that fails.

    Anonymous callers reach this, so the answer names parts only: no host, port, URL or
    exception text. `manage.py preflight` prints the details for operators.
    """
    results = await arun_checks()
    failing = [r.name for r in results if not r.ok]
    if failing:
        return JsonResponse({"status": "fail", "failing": failing}, status=503)
    return JsonResponse({"status": "ok"})


def login_locked(request, original_response=None, credentials=None):
    """django-axes' lockout answer (AXES_LOCKOUT_CALLABLE): a 429 page saying for how long."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    response = TemplateResponse(
        request,
        "portal/login_locked.html",
        {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": minutes},
        status=429,
    )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response.render()
