"""The portal's operations area (a viewflow Application beside the process apps)."""

from __future__ import annotations

from django.urls import path
from django.utils.translation import gettext_lazy as _
from viewflow.urls import Application, AppMenuMixin, Viewset, route

from processes import selectors, views
from processes.operations.views import DashboardView


class DashboardViewset(AppMenuMixin, Viewset):
    app_name = "dashboard"  # its own URL namespace, so that the menu links to it
    title = _("Dashboard")
    icon = "monitoring"

    index_path = path("", DashboardView.as_view(), name="index")


class IncidentViewset(AppMenuMixin, Viewset):
    app_name = "incidents"  # its own URL namespace: the dashboard links to it, beside the app's index
    title = _("Incidents")
    icon = "report_problem"

    index_path = path("", views.IncidentListView.as_view(), name="index")
    retry_path = path("<int:task_pk>/retry/", views.IncidentRetryView.as_view(), name="retry")
    skip_path = path("<int:task_pk>/skip/", views.IncidentSkipView.as_view(), name="skip")


class InterventionViewset(Viewset):
    """A process manager's fixes of one open task (the process page's Manage panel posts here)."""

    reassign_path = path("<int:task_pk>/reassign/", views.TaskReassignFixView.as_view(), name="reassign")
    due_path = path("<int:task_pk>/due/", views.TaskDueChangeView.as_view(), name="due")


class OperationsApp(Application):
    """For process managers: the operations dashboard, failed automated steps to retry or skip,
    and fixes of open tasks."""

    title = _("Operations")
    icon = "engineering"
    app_name = "operations"

    dashboard_path = route("dashboard/", DashboardViewset())
    incidents_path = route("incidents/", IncidentViewset())
    interventions_path = route("tasks/", InterventionViewset())

    def has_view_permission(self, user, obj=None):
        return user.is_authenticated and bool(selectors.flows_managed_by(user))
