"""Probes: /healthz (the process answers) and /readyz (its dependencies answer), and the error
page that needs no database (`server_error`, Django's handler500)."""

from __future__ import annotations

import sys

import structlog
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import InterfaceError, OperationalError, transaction
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils.http import escape_leading_slashes
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from portal.health import arun_checks
from processes.api.problems import problem_response
from processes.branding import PRODUCT_NAME

#: Seconds a client is told to wait (Retry-After) when the database does not answer: about what
#: a PostgreSQL restart or a failover takes (tests/cluster/ cuts it off for 4 s).
DATABASE_RETRY_AFTER_SECONDS = 5


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


def server_error(request):
    """Django's handler500, for every uncaught error of a request: a page (or, under /api/, a
    problem document) that needs no database, since the database may be what failed.

    When it is the database (OperationalError or InterfaceError: unreachable, restarting, its
    connection lost, a deadlock or a timeout), the request changed nothing (each request is one
    transaction) and trying again will do: 503 with Retry-After, so browsers, HAProxy and API
    clients know to come back. Anything else is a 500."""
    error = sys.exc_info()[1]
    unavailable = isinstance(error, OperationalError | InterfaceError)
    status = 503 if unavailable else 500
    headers = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)} if unavailable else {}
    if unavailable:
        title = _("Temporarily unavailable")
        message = _(
            "The portal cannot reach its database at the moment. Nothing was changed. "
            "Try again in a few seconds."
        )
    else:
        title = _("Something went wrong")
        message = _("The portal could not finish this request. The error was logged for the operators.")
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request.path.startswith("/api/"):
        return problem_response(request, status, message, headers=headers)
    body = render_to_string(
        "portal/server_error.html",
        {
            "PRODUCT_NAME": PRODUCT_NAME,
            "title": title,
            "message": message,
            "retry_after": unavailable,
            # A GET again; after a refused POST, the start page (the form's data is gone).
            "path": escape_leading_slashes(request.get_full_path()) if request.method == "GET" else "/",
            "request_id": request_id,
        },
    )
    response = HttpResponse(body, status=status)
    for name, value in headers.items():
        response[name] = value
    return response
