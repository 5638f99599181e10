"""The operator's task list in the portal: a viewflow Application, first in the menu."""

from __future__ import annotations

from django.urls import path
from viewflow.urls import Application, AppMenuMixin, Viewset, route

from processes.tasklist import selectors, views


class InboxViewset(AppMenuMixin, Viewset):
    app_name = "inbox"  # its own URL namespace, so that the menu links to it
    title = "Inbox"
    icon = "inbox"
    index_path = path("", views.InboxView.as_view(), name="index")


class QueueViewset(AppMenuMixin, Viewset):
    app_name = "queue"  # its own URL namespace, so that the menu links to it
    title = "Queue"
    icon = "assignment"
    index_path = path("", views.QueueView.as_view(), name="index")


class ArchiveViewset(AppMenuMixin, Viewset):
    app_name = "archive"  # its own URL namespace, so that the menu links to it
    title = "Archive"
    icon = "archive"
    index_path = path("", views.ArchiveView.as_view(), name="index")


class TeamViewset(AppMenuMixin, Viewset):
    app_name = "team"  # its own URL namespace, so that the menu links to it
    title = "My team"
    icon = "groups"
    index_path = path("", views.TeamView.as_view(), name="index")

    def has_view_permission(self, user, obj=None):
        return selectors.may_see_team(user)


class TasksApp(Application):
    """Inbox, queue, archive and (managers) the team's open tasks, across every process."""

    title = "My tasks"
    icon = "task_alt"
    app_name = "tasks"

    inbox_path = route("inbox/", InboxViewset())
    queue_path = route("queue/", QueueViewset())
    archive_path = route("archive/", ArchiveViewset())
    team_path = route("team/", TeamViewset())
    bulk_claim_path = path("claim/", views.BulkClaimView.as_view(), name="bulk_claim")
    claim_path = path("<int:task_pk>/claim/", views.ClaimView.as_view(), name="claim")
    unclaim_path = path("<int:task_pk>/unclaim/", views.UnclaimView.as_view(), name="unclaim")
    delegate_path = path("<int:task_pk>/delegate/", views.DelegateView.as_view(), name="delegate")
    reassign_path = path("<int:task_pk>/reassign/", views.ReassignView.as_view(), name="reassign")

    def has_view_permission(self, user, obj=None):
        return user.is_authenticated and bool(selectors.flows_visible_to(user))
