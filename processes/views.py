"""Portal views of the shared machinery: incidents (failed automated steps). Thin: form -> service."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View, generic
from viewflow.views import FormLayoutMixin
from viewflow.workflow.activation import Activation
from viewflow.workflow.flow.views import mixins as flow_view_mixins
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes import interventions, selectors, services
from processes.exceptions import IncidentError, InterventionRefused
from processes.forms import (
    IncidentRetryForm,
    IncidentSkipForm,
    ProcessCancelForm,
    TaskDueForm,
    TaskReassignFixForm,
)
from processes.gate import GateDenied, process_manage_authorize
from processes.notifications.selectors import process_url, task_url
from processes.redirects import safe_next_url
from processes.registry import registry


class TaskFormView(
    FormLayoutMixin,
    flow_view_mixins.SuccessMessageMixin,
    flow_view_mixins.TaskSuccessUrlMixin,
    flow_view_mixins.TaskViewTemplateNames,
    generic.FormView,
):
    """A human task's form page (the gate has started the task's activation: processes/flowapp.py)."""

    template_filename = "task.html"
    success_message = gettext_lazy("Task {task} has been completed.")

    @property
    def activation(self) -> Activation:
        return self.request.activation  # type: ignore[attr-defined]  # set by flowapp.gated_task_view


class TaskDecisionView(TaskFormView):
    """A human task whose form is a TaskDecisionForm; subclasses hand the decision to a service."""

    def decide(self, form) -> None:
        raise NotImplementedError

    def form_valid(self, form):
        self.decide(form)
        return super().form_valid(form)


class IncidentListView(generic.ListView):
    """Failed automated steps of the processes the user manages, with their error and attempts."""

    template_name = "processes/incidents.html"
    context_object_name = "incidents"
    paginate_by = 50

    def get_queryset(self):
        return selectors.incidents_for_user(self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        viewset = self.request.resolver_match.viewset  # type: ignore[union-attr]  # viewflow's router sets it
        context["rows"] = [
            {
                "task": task,
                "process_url": task.process.flow_class.instance.reverse(
                    "process_detail", args=[task.process_id]
                ),
                "flow_title": task.process.flow_class.process_title,
                "step": task.flow_task.task_title,
                "attempts": len(task.data.get("attempts") or []),
                "error": (task.data.get("_exception") or {}).get("title", ""),
                "traceback": (task.data.get("_exception") or {}).get("traceback", ""),
                "retry_url": viewset.reverse("retry", args=[task.pk]),
                "skip_url": viewset.reverse("skip", args=[task.pk]),
            }
            for task in context["incidents"]
        ]
        return context


class _IncidentActionView(View):
    http_method_names = ["post"]

    def incident(self, task_pk: int):
        # Only incidents the user manages exist for them: anything else is a 404, not a 403.
        return get_object_or_404(selectors.incidents_for_user(self.request.user), pk=task_pk)

    def done(self):
        """Back to the incidents page, or to the page the form names in `next` (the dashboard)."""
        viewset = self.request.resolver_match.viewset  # type: ignore[union-attr]  # viewflow's router sets it
        index = viewset.reverse("index")
        return HttpResponseRedirect(safe_next_url(self.request, self.request.POST.get("next"), index))


class IncidentRetryView(_IncidentActionView):
    def post(self, request, task_pk: int):
        task = self.incident(task_pk)
        form = IncidentRetryForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Say why the step is run again."))
            return self.done()
        try:
            services.incident_retry(task=task, user=request.user, reason=form.cleaned_data["reason"])
        except (IncidentError, PermissionDenied) as exc:
            raise Http404(str(exc)) from exc
        messages.success(
            request,
            _("Step %(step)s of #%(process)s runs again.")
            % {"step": task.flow_task.task_title, "process": task.process_id},
        )
        return self.done()


class IncidentSkipView(_IncidentActionView):
    def post(self, request, task_pk: int):
        task = self.incident(task_pk)
        form = IncidentSkipForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Say why the step is skipped."))
            return self.done()
        try:
            services.incident_skip(task=task, user=request.user, reason=form.cleaned_data["reason"])
        except (IncidentError, PermissionDenied) as exc:
            raise Http404(str(exc)) from exc
        messages.success(
            request,
            _("Step %(step)s of #%(process)s was skipped.")
            % {"step": task.flow_task.task_title, "process": task.process_id},
        )
        return self.done()


# ---------------------------------------------------------------- fixing running instances


class _InterventionView(generic.FormView):
    """A process manager's fix (processes.interventions), as a page with its form: the process
    page's Manage panel posts here, and a refused fix comes back to this page with its errors.
    Who may open it is the gate's (processes.gate): 404 for whoever may not see the process, 403
    for whoever may see it but not manage it."""

    template_name = "processes/intervention.html"
    title: Any = ""

    def dispatch(self, request, *args, **kwargs):
        self.process = self.get_process(**kwargs)
        process_manage_authorize(user=request.user, process=self.process)
        return super().dispatch(request, *args, **kwargs)

    def get_process(self, **kwargs) -> Any:
        raise NotImplementedError

    @property
    def manager(self) -> Any:
        """The process manager acting (logged in: the gate refused anyone else in dispatch)."""
        return self.request.user

    def act(self, form) -> str:
        """Call the service; return the success message."""
        raise NotImplementedError

    def form_valid(self, form):
        try:
            message = self.act(form)
        except ValidationError as exc:
            for field, errors in (
                exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]
            ):
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
            return self.form_invalid(form)
        except InterventionRefused as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        except GateDenied as exc:
            if exc.reason == "target_not_eligible" or exc.reason == "own_request":
                form.add_error("to_user" if "to_user" in form.fields else None, str(exc))
                return self.form_invalid(form)
            raise
        messages.success(self.request, message)
        return HttpResponseRedirect(process_url(self.process))

    def form_invalid(self, form):
        # 422, as the task forms answer: Turbo renders a refused form submission's page only
        # for a 4xx it treats as such, and a 400 left the old page up with no error shown.
        response = super().form_invalid(form)
        response.status_code = 422
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            {"title": self.title, "process": self.process, "process_url": process_url(self.process)}
        )
        return context


class _TaskInterventionView(_InterventionView):
    def get_process(self, **kwargs) -> Any:
        self.task = get_object_or_404(
            Task.objects.select_related("process", "owner"), pk=kwargs["task_pk"], flow_task_type="HUMAN"
        )
        return self.task.process

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["task"] = self.task
        context["step"] = self.task.flow_task.task_title or self.task.flow_task.name
        return context


class TaskReassignFixView(_TaskInterventionView):
    form_class = TaskReassignFixForm
    title = gettext_lazy("Reassign a task")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "candidates": selectors.reassign_candidates(self.task)}

    def act(self, form) -> str:
        to_user = form.cleaned_data["to_user"]
        interventions.task_reassign_fix(
            task=self.task, user=self.manager, to_user=to_user, reason=form.cleaned_data["reason"]
        )
        return _("Task #%(task)s is now %(user)s's.") % {"task": self.task.pk, "user": to_user.get_username()}


class TaskDueChangeView(_TaskInterventionView):
    form_class = TaskDueForm
    title = gettext_lazy("Change a due time")

    def get_initial(self):
        due = selectors.task_due_at(self.task)
        return {"due_at": timezone.localtime(due) if due else None}

    def act(self, form) -> str:
        interventions.task_due_change(
            task=self.task,
            user=self.manager,
            due_at=form.cleaned_data["due_at"],
            reason=form.cleaned_data["reason"],
        )
        return _("Task #%(task)s has a new due time; its timers follow it.") % {"task": self.task.pk}


class ProcessCancelView(_InterventionView):
    """A process type's cancel page (GatedFlowAppViewset's `process_cancel`), with a reason: the
    process's compensation path runs where its flow has one (processes.interventions)."""

    form_class = ProcessCancelForm
    title = gettext_lazy("Cancel a process")
    flow_class: Any = None

    def get_process(self, **kwargs) -> Any:
        return get_object_or_404(
            self.flow_class.process_class._default_manager.filter(flow_class=self.flow_class),
            pk=kwargs["process_pk"],
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        compensation = registry.for_process(self.process).compensation_node()
        context["compensation"] = (compensation.task_title or compensation.name) if compensation else ""
        context["open_tasks"] = [
            {"title": task.flow_task.task_title or task.flow_task.name, "url": task_url(task)}
            for task in self.process.task_set.exclude(
                status__in=[STATUS.DONE, STATUS.CANCELED, STATUS.REVIVED]
            ).order_by("pk")
        ]
        return context

    def act(self, form) -> str:
        interventions.process_cancel(
            process=self.process, user=self.manager, reason=form.cleaned_data["reason"]
        )
        return _("Process #%(process)s was canceled.") % {"process": self.process.pk}
