from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from viewflow.workflow import admin as viewflow_admin
from viewflow.workflow.models import Process, Task
from viewflow.workflow.status import STATUS

from processes.absences import admin as absences_admin  # noqa: F401 - registers the absences' admin
from processes.actionlinks import admin as actionlinks_admin  # noqa: F401 - registers the action links' admin
from processes.admin_base import ReadOnlyAdmin
from processes.api import admin as api_admin  # noqa: F401 - registers the API clients' admin
from processes.attachments import admin as attachments_admin  # noqa: F401 - registers the attachments' admin
from processes.connectors import admin as connectors_admin  # noqa: F401 - registers the connectors' admin
from processes.exceptions import IncidentError, InterventionRefused
from processes.forms import IncidentRetryForm, IncidentSkipForm, ProcessCancelForm, ReasonForm, TaskDueForm
from processes.interventions import process_cancel, task_due_change, task_reassign_fix
from processes.mail import admin as mail_admin  # noqa: F401 - registers the outbox admin
from processes.messages import admin as messages_admin  # noqa: F401 - registers the received messages' admin
from processes.models import (
    AuditEvent,
    Incident,
    ProcessComment,
)
from processes.policies import admin as policies_admin  # noqa: F401 - registers the policies' admin
from processes.services import incident_retry, incident_skip
from processes.tasklist import admin as tasklist_admin  # noqa: F401 - registers the task list rows' admin
from processes.webhooks import admin as webhooks_admin  # noqa: F401 - registers the webhooks' admin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit trail, read-only: it is append-only everywhere."""

    list_display = ["created_at", "action", "actor_name", "process_id", "task_id", "correlation_id"]
    list_filter = ["action"]
    search_fields = ["correlation_id", "actor_name", "action"]
    date_hierarchy = "created_at"


@admin.register(ProcessComment)
class ProcessCommentAdmin(admin.ModelAdmin):
    list_display = ["created_at", "author", "process", "text"]
    readonly_fields = ["process", "task", "author", "created_at"]


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    """Failed automated steps, with error and traceback; retry or skip (with a reason) as actions."""

    list_display = ["pk", "process", "step", "finished", "attempts", "error"]
    list_filter = ["process__flow_class"]
    readonly_fields = ["process", "step", "finished", "attempts", "error", "traceback", "idempotency_key"]
    fields = readonly_fields  # type: ignore[assignment]  # django-stubs types the two apart; names here
    actions = ["retry", "skip"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(flow_task_type="JOB", status=STATUS.ERROR)
            .select_related("process")
        )

    @admin.display(description=_("step"))
    def step(self, obj):
        return obj.flow_task.task_title

    @admin.display(description=_("attempts"))
    def attempts(self, obj):
        return len((obj.data or {}).get("attempts") or [])

    @admin.display(description=_("error"))
    def error(self, obj):
        return ((obj.data or {}).get("_exception") or {}).get("title", "")

    @admin.display(description=_("traceback"))
    def traceback(self, obj):
        return format_html("<pre>{}</pre>", ((obj.data or {}).get("_exception") or {}).get("traceback", ""))

    @admin.display(description=_("idempotency key"))
    def idempotency_key(self, obj):
        return (obj.data or {}).get("idempotency_key", "")

    def _each(self, request, queryset, action):
        return _each(self, request, queryset, action)

    @admin.action(description=_("Retry the selected steps (same idempotency key; asks for a reason)"))
    def retry(self, request, queryset):
        return _confirmed_action(
            self,
            request,
            queryset,
            IncidentRetryForm,
            trigger="reason",
            act=lambda task, data: incident_retry(task=task, user=request.user, reason=data["reason"]),
            done="{n} step(s) run again.",
            page=("retry", "Run these steps again", "Say why each step runs again."),
        )

    @admin.action(description=_("Skip the selected steps (asks for a reason)"))
    def skip(self, request, queryset):
        form = IncidentSkipForm(request.POST if "reason" in request.POST else None)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            done = self._each(
                request, queryset, lambda task: incident_skip(task=task, user=request.user, reason=reason)
            )
            self.message_user(request, f"{done} step(s) skipped.", messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "admin/processes/incident_skip.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "incidents": queryset,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )


# ---------------------------------------------------------------- fixing running instances
# viewflow's own process and task admins edit raw fields (a task's data and candidate permission,
# a process's data) past the flow's state machine, its lock and the authorization gate
# (processes/gate.py). Here they only show, and a running instance is changed by actions that call
# the same services as the process page's Manage panel (processes/interventions.py), each with a
# reason, through the gate.

_REFUSED = (ValidationError, InterventionRefused, IncidentError, PermissionDenied, Http404)


def _each(model_admin, request, queryset, action) -> int:
    """Run `action` on each selected object on its own; report each refusal, count the rest."""
    done = 0
    for obj in queryset:
        try:
            action(obj)
            done += 1
        except _REFUSED as exc:
            words = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            model_admin.message_user(request, f"#{obj.pk}: {words or 'not allowed'}", messages.ERROR)
    return done


def _intervention_page(model_admin, request, queryset, form, action, submit, intro):
    return TemplateResponse(
        request,
        "admin/processes/intervention.html",
        {
            **model_admin.admin_site.each_context(request),
            "form": form,
            "objects": queryset,
            "action": action,
            "submit": submit,
            "intro": intro,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": model_admin.model._meta,
        },
    )


def _confirmed_action(model_admin, request, queryset, form_class, *, trigger, act, done, page):
    """An admin action in two steps: the page with `form_class` (and its errors), then, once the
    form is posted (`trigger` in the POST) and valid, `act(obj, cleaned_data)` on each selected
    object on its own, with the count (`done`, "{n} …") and each refusal reported.
    `page` is (the action's name, the submit button, the intro)."""
    form = form_class(request.POST if trigger in request.POST else None)
    if form.is_bound and form.is_valid():
        count = _each(model_admin, request, queryset, lambda obj: act(obj, form.cleaned_data))
        model_admin.message_user(request, done.format(n=count), messages.SUCCESS)
        return None
    return _intervention_page(model_admin, request, queryset, form, *page)


class _TaskReassignAdminForm(ReasonForm):
    to_user = forms.ModelChoiceField(
        label="Give them to", queryset=get_user_model().objects.filter(is_active=True).order_by("username")
    )


class ProcessInterventionAdmin(ReadOnlyAdmin, viewflow_admin.ProcessAdmin):
    """viewflow's process admin, read-only, with the process managers' cancel (with a reason)."""

    actions = ["cancel_processes"]

    @admin.action(
        description="Cancel the selected processes (compensating where the flow can; asks for a reason)"
    )
    def cancel_processes(self, request, queryset):
        return _confirmed_action(
            self,
            request,
            queryset,
            ProcessCancelForm,
            trigger="confirm",
            act=lambda process, data: process_cancel(
                process=process, user=request.user, reason=data["reason"]
            ),
            done="{n} process(es) canceled.",
            page=(
                "cancel_processes",
                "Cancel these processes",
                "Their open steps are canceled; a flow with a compensation path runs it. Say why.",
            ),
        )


class TaskInterventionAdmin(ReadOnlyAdmin, viewflow_admin.TaskAdmin):
    """viewflow's task admin, read-only, with the process managers' reassign and due time change
    of open people's tasks (each with a reason)."""

    actions = ["reassign_tasks", "change_due_time"]

    @admin.action(description="Reassign the selected open tasks (asks for whom and why)")
    def reassign_tasks(self, request, queryset):
        return _confirmed_action(
            self,
            request,
            queryset,
            _TaskReassignAdminForm,
            trigger="confirm",
            act=lambda task, data: task_reassign_fix(
                task=task, user=request.user, to_user=data["to_user"], reason=data["reason"]
            ),
            done="{n} task(s) reassigned.",
            page=(
                "reassign_tasks",
                "Reassign these tasks",
                "Each goes to the person chosen, if they may hold it. Say why.",
            ),
        )

    @admin.action(description="Change the due time of the selected open tasks (re-arms their timers)")
    def change_due_time(self, request, queryset):
        return _confirmed_action(
            self,
            request,
            queryset,
            TaskDueForm,
            trigger="confirm",
            act=lambda task, data: task_due_change(
                task=task, user=request.user, due_at=data["due_at"], reason=data["reason"]
            ),
            done="{n} due time(s) changed.",
            page=(
                "change_due_time",
                "Change the due times",
                "Reminders and escalation levels not fired yet move with the due time. Say why.",
            ),
        )


for _model, _admin_class in ((Process, ProcessInterventionAdmin), (Task, TaskInterventionAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)
