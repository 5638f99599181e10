"""Request middleware: who is acting, which process a request is about, and lock contention."""

from __future__ import annotations

import structlog
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from viewflow.workflow.exceptions import FlowLockFailed

from processes.audit import actor_set, correlation_bind
from processes.selectors import process_with_subclass

logger = structlog.get_logger(__name__)


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
            process = process_with_subclass(process_pk)
            if process is not None:
                correlation_bind(process)
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
