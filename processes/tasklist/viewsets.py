"""The operator's task list in the portal: a viewflow Application, first in the menu."""

from __future__ import annotations

from django.db import transaction
from django.urls import path
from django.utils.translation import gettext_lazy as _
from viewflow.urls import Application, AppMenuMixin, Viewset, route

from processes.tasklist import selectors, views


def _read_only(view_class):
    """A list page only reads: no transaction around it (ATOMIC_REQUESTS would wrap each GET in
    BEGIN and COMMIT, two round trips of a page's eleven)."""
    return transaction.non_atomic_requests(view_class.as_view())


class InboxViewset(AppMenuMixin, Viewset):
    app_name = "inbox"  # its own URL namespace, so that the menu links to it
    title = "Inbox"
    icon = "inbox"
    index_path = path("", _read_only(views.InboxView), name="index")


class QueueViewset(AppMenuMixin, Viewset):
    app_name = "queue"  # its own URL namespace, so that the menu links to it
    title = "Queue"
    icon = "assignment"
    index_path = path("", _read_only(views.QueueView), name="index")


class ArchiveViewset(AppMenuMixin, Viewset):
    app_name = "archive"  # its own URL namespace, so that the menu links to it
    title = "Archive"
    icon = "archive"
    index_path = path("", _read_only(views.ArchiveView), name="index")


class TeamViewset(AppMenuMixin, Viewset):
    app_name = "team"  # its own URL namespace, so that the menu links to it
    title = "My team"
    icon = "groups"
    index_path = path("", _read_only(views.TeamView), name="index")

    def has_view_permission(self, user, obj=None):
        return selectors.may_see_team(user)


class TasksApp(Application):
    """Inbox, queue, archive and (managers) the team's open tasks, across every process."""

    title = _("My tasks")
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
    saved_filter_create_path = path(
        "filters/", views.SavedFilterCreateView.as_view(), name="saved_filter_create"
    )
    saved_filter_pin_path = path(
        "filters/<int:filter_pk>/pin/", views.SavedFilterPinView.as_view(), name="saved_filter_pin"
    )
    saved_filter_rename_path = path(
        "filters/<int:filter_pk>/rename/", views.SavedFilterRenameView.as_view(), name="saved_filter_rename"
    )
    saved_filter_delete_path = path(
        "filters/<int:filter_pk>/delete/", views.SavedFilterDeleteView.as_view(), name="saved_filter_delete"
    )

    def has_view_permission(self, user, obj=None):
        return user.is_authenticated and bool(selectors.flows_listed_for(user))
