"""Request middleware: who is acting, which process a request is about, lock contention, and the
HTTP metrics."""

from __future__ import annotations

import time

import structlog
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from viewflow.workflow.exceptions import FlowLockFailed

from processes import instruments
from processes.audit import actor_set, correlation_bind_id
from processes.selectors import process_correlation_id

logger = structlog.get_logger(__name__)


class MetricsMiddleware:
    """Count every HTTP request by route, method and status, with its latency (first in MIDDLEWARE,
    so it times the whole stack). The route is the resolver's pattern (`purchase/<int:process_pk>/`),
    never the raw path: one series per route, however many ids the paths carry."""

    METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        status = "500"  # an exception that escapes every middleware is a 500 from Django
        try:
            response = self.get_response(request)
            status = str(response.status_code)
            return response
        finally:
            match = getattr(request, "resolver_match", None)
            route = (match.route or match.view_name) if match is not None else "unmatched"
            method = request.method if request.method in self.METHODS else "other"
            instruments.HTTP_REQUESTS.labels(route, method, status).inc()
            instruments.HTTP_LATENCY.labels(route, method).observe(time.perf_counter() - started)


class CorrelationMiddleware:
    """Bind the acting user for the audit trail, and the correlation id of the process in the URL."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        actor_set(getattr(request, "user", None))
        try:
            return self.get_response(request)
        finally:
            actor_set(None)

    def process_view(self, request, view_func, view_args, view_kwargs):
        process_pk = view_kwargs.get("process_pk")
        if process_pk is not None:
            correlation_bind_id(process_correlation_id(process_pk), process_pk)
        return None


class FlowLockBusyMiddleware:
    """Another request holds this process's lock: say so with a 409 instead of a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, FlowLockFailed):
            logger.warning("flow.lock_busy", path=request.path)
            response = TemplateResponse(request, "portal/busy.html", status=409)
            return response.render()
        return None
