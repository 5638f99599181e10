"""A clear page, not a bare 403, when someone acts on a task that changed hands meanwhile."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from viewflow.workflow.models import Task

from processes.gate import GateDenied, task_unavailable_reason
from processes.tasklist.selectors import task_row_reachable


class TaskUnavailableMiddleware:
    """viewflow's task views raise PermissionDenied when the user no longer holds the task (it
    was claimed by someone else, reassigned, or finished). For a task the user may otherwise
    reach (a candidate, its former holder, a manager) say what happened, with a 409; anything
    else stays a 403, so nobody learns about tasks outside their groups."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, PermissionDenied) or not request.user.is_authenticated:
            return None
        match = getattr(request, "resolver_match", None)
        task_pk = match.kwargs.get("task_pk") if match is not None else None
        if match is None or task_pk is None or "process_pk" not in match.kwargs:
            return None
        task = Task.objects.filter(pk=task_pk).select_related("owner").first()
        if task is None or task_row_reachable(request.user, task.pk) is None:
            return None
        if isinstance(exception, GateDenied):  # the gate said why: say it (403, not a conflict)
            response = TemplateResponse(
                request, "portal/task_unavailable.html", {"reason": str(exception), "task": task}, status=403
            )
            return response.render()
        reason = task_unavailable_reason(task, request.user)
        if reason is None and task.status == "NEW":
            reason = _("Task #%(task)s is back in the queue: claim it first.") % {"task": task.pk}
        if reason is None:
            return None
        # A claim sent twice: the page says so and opens the task, not "changed hands".
        held = task.status == "ASSIGNED" and task.owner_id == request.user.pk
        context = {"reason": reason, "task": task, "held": held}
        if held:
            context["task_href"] = task.reverse("index")
        response = TemplateResponse(request, "portal/task_unavailable.html", context, status=409)
        return response.render()
