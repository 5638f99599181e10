"""The operations dashboard page. Thin: the selectors read, this view adds the links and charts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views import View

from processes.operations import charts, selectors
from processes.tasklist.selectors import flows_managed_by
from processes.tasklist.views import task_page_url


def duration_text(value: timedelta | None) -> str:
    """A duration as the dashboard shows it: "45 s", "12 min", "5.5 h", "3.2 d"; "" for None."""
    if value is None:
        return ""
    seconds = max(value.total_seconds(), 0)
    if seconds < 60:
        return _("%(n)d s") % {"n": seconds}
    if seconds < 3600:
        return _("%(n)d min") % {"n": seconds // 60}
    if seconds < 48 * 3600:
        return _("%(n).1f h") % {"n": seconds / 3600}
    return _("%(n).1f d") % {"n": seconds / 86400}


def _rate_text(part: int, whole: int) -> str:
    return f"{part / whole:.0%} ({part}/{whole})" if whole else _("none finished")


def _process_url(process: Any) -> str:
    return process.flow_class.instance.reverse("process_detail", args=[process.pk])


class DashboardView(View):
    """Stuck instances, SLA risk and breaches, failing jobs, and each process type's compensation
    rate, throughput and time to decision, for the process types the user manages."""

    # The live machinery (processes/live.py) re-renders an open dashboard in place, on every
    # task transition of any process (the `operations` channel) and on the consumer's poll.
    live_watchable = True
    live_channel = "operations"

    def get(self, request):
        flows = flows_managed_by(request.user)
        if not flows:  # the app says so first (OperationsApp.has_view_permission); never an empty page
            raise PermissionDenied
        data = selectors.dashboard(flows)
        now = data["now"]
        pages: dict = {}
        context = {
            **data,
            "stuck_after": settings.STUCK_AFTER_MINUTES,
            "stuck_rows": [
                {
                    "process": process,
                    "url": _process_url(process),
                    "title": str(process.flow_class.process_title),
                    "step": ", ".join(
                        f"{task.flow_task.task_title} ({task.get_status_display()})"
                        for task in process.open_tasks
                    )
                    or _("no open step"),
                    "idle": duration_text(now - process.idle_since),
                }
                for process in data["stuck"]
            ],
            "at_risk_rows": [self._task_row(row, now, pages) for row in data["at_risk"]],
            "breached_rows": [self._task_row(row, now, pages) for row in data["breached"]],
            "incident_rows": [
                {
                    "task": task,
                    "process_url": _process_url(task.process),
                    "title": str(task.process.flow_class.process_title),
                    "step": task.flow_task.task_title,
                    "error": (task.data.get("_exception") or {}).get("title", ""),
                    "retry_url": reverse("operations:incidents:retry", args=[task.pk]),
                    "skip_url": reverse("operations:incidents:index") + f"#incident-{task.pk}",
                    "next": request.get_full_path(),
                }
                for task in data["incidents"]
            ],
            "type_rows": [self._type_row(figure) for figure in data["types"]],
        }
        return TemplateResponse(request, "processes/operations/dashboard.html", context)

    @staticmethod
    def _task_row(row: Any, now: Any, pages: dict) -> dict[str, Any]:
        flow = row.flow
        return {
            "row": row,
            "url": task_page_url(row, pages),
            "process_url": flow.instance.reverse("process_detail", args=[row.process_id]) if flow else "",
            "title": row.kind or (str(flow.process_title) if flow else ""),
            "due": date_format(timezone.localtime(row.due_at), "SHORT_DATETIME_FORMAT"),
            "left": duration_text(row.due_at - now) if row.due_at >= now else duration_text(now - row.due_at),
            # A manager's reassignment, with its reason (processes/interventions.py).
            "reassign_url": reverse("operations:reassign", args=[row.task_id]),
        }

    @staticmethod
    def _type_row(figure: selectors.TypeFigures) -> dict[str, Any]:
        counts = [n for _day, n in figure.per_day]
        medians = [
            value.total_seconds() if value is not None else None for _day, value in figure.decision_per_day
        ]
        first, last = figure.per_day[0][0], figure.per_day[-1][0]
        return {
            "figure": figure,
            "rate_24h": _rate_text(figure.compensated_24h, figure.finished_24h),
            "rate_7d": _rate_text(figure.compensated_7d, figure.finished_7d),
            "finished_total": sum(counts),
            "throughput_chart": charts.bars_svg(
                counts,
                label=_("%(title)s: processes finished per day, %(first)s to %(last)s: %(counts)s")
                % {
                    "title": figure.title,
                    "first": first,
                    "last": last,
                    "counts": ", ".join(map(str, counts)),
                },
            ),
            "median": duration_text(figure.decision_median),
            "p90": duration_text(figure.decision_p90),
            "decision_chart": charts.line_svg(
                medians,
                label=_("%(title)s: median time to decision per day, %(first)s to %(last)s: %(values)s")
                % {
                    "title": figure.title,
                    "first": first,
                    "last": last,
                    "values": ", ".join(
                        duration_text(value) or _("none") for _day, value in figure.decision_per_day
                    ),
                },
            ),
        }
