"""The process page and its panels, for every flow: the request, attachments, history, and the
flow diagram with the process's position highlighted.

viewflow's open-source chart (viewflow.workflow.chart) already colours each node by the status
of its tasks in one process (new, assigned, done, error); the panel renders that SVG inline, so
the page's own permission check covers it and no second request is needed.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.utils.safestring import SafeString, mark_safe
from viewflow.workflow import chart
from viewflow.workflow.flow.views import DetailProcessView, FlowChartView

from processes.bpmn import flow_bpmn, flow_bpmn_filename
from processes.gate import process_visible_to
from processes.registry import registry

# Steps people care about on a process page: their own tasks, the start, and automated jobs.
# Routing steps (Function, If, Switch, Join) and ends are internal and left out.
SHOWN_TASK_TYPES = ("HUMAN_START", "START", "HUMAN", "JOB")


def process_chart_svg(process: Any) -> SafeString:
    """The flow's diagram as inline SVG, its nodes coloured by this process's tasks (one query),
    or the one its descriptor draws (`diagram_svg`: the type's own steps)."""
    own = registry.for_process(process).diagram_svg(process.coerced)
    if own is not None:
        return mark_safe(own)  # noqa: S308 - drawn by processes.bpmn, every text escaped
    flow_class = process.flow_class
    # Laid out on each call (about 5 ms): the grid holds the flow's nodes, which cannot be copied,
    # and the status pass writes into it, so a shared one would race between requests.
    grid = chart.calc_layout_data(flow_class)
    chart.calc_cell_status(flow_class, grid, process.pk)
    return mark_safe(chart.grid_to_svg(grid))  # noqa: S308 - rendered by viewflow's template from our flow


class ProcessDetailView(DetailProcessView):
    """viewflow's process page with only the steps people care about in its task table, shown
    to those who may see this process (processes.gate), whatever the flow's own view check."""

    def dispatch(self, request, *args, **kwargs):
        if not process_visible_to(user=request.user, process=self.get_object()):
            raise PermissionDenied
        # viewflow's dispatch checks the flow's model-wide view permission only: skip it.
        return super(DetailProcessView, self).dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["task_list"] = (
            context["process"]
            .task_set.filter(flow_task_type__in=SHOWN_TASK_TYPES)
            .select_related("owner")
            .order_by("created", "pk")
        )
        return context


class ProcessChartView(FlowChartView):
    """viewflow's chart; one process's chart only for people who may see that process
    (processes.gate). With `?format=bpmn`, the process type's BPMN 2.0 file with diagram
    interchange (processes.bpmn) instead of viewflow's export, as a download: the type's
    definition, the same for the type's chart and for one process's (it carries no state)."""

    def dispatch(self, request, *args, **kwargs):
        process_pk = kwargs.get("process_pk")
        if process_pk is not None:
            process = self.flow_class.process_class._default_manager.filter(pk=process_pk).first()
            if process is None or not process_visible_to(user=request.user, process=process):
                raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        if request.GET.get("format") == "bpmn":
            response = HttpResponse(flow_bpmn(self.flow_class), content_type="application/xml")
            response["Content-Disposition"] = f'attachment; filename="{flow_bpmn_filename(self.flow_class)}"'
            return response
        return super().get(request, *args, **kwargs)
