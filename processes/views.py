"""Portal views of the shared machinery: incidents (failed automated steps). Thin: form -> service."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View, generic
from viewflow.views import FormLayoutMixin
from viewflow.workflow.activation import Activation
from viewflow.workflow.flow.views import mixins as flow_view_mixins

from processes import selectors, services
from processes.exceptions import IncidentError
from processes.forms import IncidentSkipForm
from processes.redirects import safe_next_url


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
        try:
            services.incident_retry(task=task, user=request.user)
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
