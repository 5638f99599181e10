"""The operator's task list: one denormalised row per human task, kept in sync with viewflow.

Viewflow's Task has no due time, priority, amount or subject, and its queue query (a permission
list OR'd with NULL and the owner, over every task ever created) cannot be served by an index
once there are millions of rows. TaskRow carries exactly what the lists show, filter and sort
by, with partial indexes on the open rows. It is written in the transaction that changes the
task (processes.tasklist.services.task_row_sync), so a list never shows a state that did not
commit.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from viewflow.workflow.fields import FlowReferenceField, import_flow_by_ref


class Priority(models.IntegerChoices):
    """How urgent a task is; a number so that the lists sort by it."""

    LOW = 1, _("Low")
    NORMAL = 2, _("Normal")
    HIGH = 3, _("High")
    URGENT = 4, _("Urgent")


OPEN_STATUSES = ("NEW", "ASSIGNED")
# The columns the task lists filter on (processes/tasklist/selectors.py `task_rows_filter`, and the
# queue's permissions) that a list index holds beside its sort key (PostgreSQL's INCLUDE; SQLite
# keeps the key only): a page's capped count reads such an index alone.
COVERED = ["flow_class", "owner_permission", "kind", "stage_name", "amount"]


class TaskRow(models.Model):
    """What the task lists show of one human task (a viewflow Task of type HUMAN)."""

    task = models.OneToOneField(
        "viewflow.Task", primary_key=True, on_delete=models.CASCADE, related_name="list_row"
    )
    flow_class = FlowReferenceField(_("process type"))
    process = models.ForeignKey("viewflow.Process", on_delete=models.CASCADE, related_name="+")
    node = models.CharField(_("step"), max_length=100)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    requester = models.CharField(_("requester"), max_length=200, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    stage_name = models.CharField(_("stage"), max_length=100, blank=True)
    # The process type's own name when its flow runs several (TaskColumns.kind); empty otherwise.
    kind = models.CharField(_("kind"), max_length=100, blank=True)
    owner_permission = models.CharField(max_length=255, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    status = models.CharField(max_length=50)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    created = models.DateTimeField()
    finished = models.DateTimeField(null=True, blank=True)
    # Lower-cased "subject requester": trigram GIN indexes on PostgreSQL serve the search, one on
    # the open rows (migration 0010), one on (owner, search) of the finished rows: the archive (0033).
    search = models.TextField(blank=True)

    class Meta:
        verbose_name = _("task list row")
        verbose_name_plural = _("task list rows")
        indexes = [
            # queue: claimable tasks of one permission, by due time (NULLs last) ...
            models.Index(
                fields=["owner_permission", "due_at"],
                condition=models.Q(status="NEW"),
                name="taskrow_queue_due",
            ),
            # ... and all claimable tasks in each sort order (the whole sort key), filtered on the way
            # (a user's queue spans several permissions; an IN list cannot be read in order from the
            # index above). Each holds the columns the list filters on, so the page's capped count
            # reads the index alone (migration 0035: 4.4 ms to 1.1 at 1M tasks).
            models.Index(
                fields=["due_at", "created", "task_id"],
                include=COVERED,
                condition=models.Q(status="NEW"),
                name="taskrow_new_due_cov",
            ),
            models.Index(
                fields=["-priority", "due_at", "task_id"],
                include=COVERED,
                condition=models.Q(status="NEW"),
                name="taskrow_new_priority_cov",
            ),
            models.Index(
                fields=["created", "task_id"],
                include=[*COVERED, "due_at"],
                condition=models.Q(status="NEW"),
                name="taskrow_new_created_cov",
            ),
            # inbox: a user's assigned tasks, by due time (the same holds)
            models.Index(
                fields=["owner", "due_at", "created", "task_id"],
                include=COVERED,
                condition=models.Q(status="ASSIGNED"),
                name="taskrow_inbox_cov",
            ),
            # team: every open task of the managed process types
            models.Index(
                fields=["flow_class", "due_at"],
                condition=models.Q(status__in=OPEN_STATUSES),
                name="taskrow_open_due",
            ),
            # /metrics: the open and overdue gauges count every open row, grouped: index-only
            # (processes/migrations/0028_scrape_indexes.py)
            models.Index(
                fields=["flow_class", "stage_name", "status", "due_at", "task_id"],
                condition=models.Q(status__in=OPEN_STATUSES),
                name="taskrow_open_gauge",
            ),
            # the operations dashboard: decisions per process type over the last days (time to decision)
            models.Index(
                fields=["flow_class", "finished"],
                condition=models.Q(finished__isnull=False),
                name="taskrow_type_finished",
            ),
            # archive: what a user finished, newest first (the same holds)
            models.Index(
                fields=["owner", "-finished", "-task_id"],
                include=COVERED,
                condition=models.Q(finished__isnull=False),
                name="taskrow_archive_cov",
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.task_id}: {self.subject} ({self.status})"

    @property
    def flow(self) -> type | None:
        """The flow class (the field hands out a class from the database, a string when just set)."""
        value = self.flow_class
        if isinstance(value, str):
            value = import_flow_by_ref(value)
        return value if value is None or isinstance(value, type) else type(value)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def is_overdue(self, now: datetime) -> bool:
        """Open and past its due time at `now` (a task without a due time never is)."""
        return self.is_open and self.due_at is not None and self.due_at < now


class SavedFilter(models.Model):
    """A task list's filters saved under a name (issue 18): its owner's, optionally shared with one
    of their groups, read-only for that group. `query` is the list's query string, normalised
    through the list's filter form when saved (processes.tasklist.services.saved_filter_create)."""

    class Page(models.TextChoices):
        INBOX = "inbox", _("Inbox")
        QUEUE = "queue", _("Queue")
        ARCHIVE = "archive", _("Archive")

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=60)
    page = models.CharField(_("list"), max_length=20, choices=Page.choices)
    query = models.CharField(_("filters"), max_length=500)
    shared_with = models.ForeignKey(
        "auth.Group",
        verbose_name=_("shared with"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("saved filter")
        verbose_name_plural = _("saved filters")
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="savedfilter_owner_name")]
        indexes = [models.Index(fields=["shared_with"], name="savedfilter_shared")]

    def __str__(self) -> str:
        return self.name


class SavedFilterPin(models.Model):
    """`user` pinned `saved_filter` (their own, or one shared with their group): it shows with its
    live count in their drawer and at the top of their task lists. Each user pins for themselves."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    saved_filter = models.ForeignKey(SavedFilter, on_delete=models.CASCADE, related_name="pins")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("pinned filter")
        verbose_name_plural = _("pinned filters")
        constraints = [
            models.UniqueConstraint(fields=["user", "saved_filter"], name="savedfilterpin_user_filter")
        ]

    def __str__(self) -> str:
        return f"{self.saved_filter_id} pinned by {self.user_id}"
