"""The core's models: the audit trail, comments, notifications, and the correlation id mixin.

The core's other models live in their subpackages (action links, attachments, mail, policies,
the task list, connectors) and are imported at the bottom so that Django registers them under
the `processes` app. Each process plug-in keeps its own models in its own app
(processes/purchase/models.py, app label `purchase`).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from viewflow.workflow.models import Task


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("AuditEvent is append-only: rows are never updated")

    def delete(self):
        raise TypeError("AuditEvent is append-only: rows are never deleted")


class AuditEvent(models.Model):
    """One state change: who did what, when, to which process and task.

    Append-only. Rows are written by processes.audit.audit_record (and only there); updates and
    deletes raise here, and on PostgreSQL a trigger refuses them in the database too. Process
    and task are plain references without a database constraint, so the trail outlives them.

    Each state change writes a row, about nineteen an approval, so each index costs every state
    change: only the reads' indexes are kept (by process, task, action, correlation id and
    time). On PostgreSQL the action and the correlation id have no `LIKE` index (migration 0034):
    the admin's search is a containment search, which they cannot serve.
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(  # not indexed: nothing reads the trail by actor
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    actor_name = models.CharField(
        max_length=150, blank=True, help_text=_("The actor's username when it happened")
    )
    action = models.CharField(max_length=64, db_index=True)
    process = models.ForeignKey(  # indexed by audit_process_created (process, created_at)
        "viewflow.Process",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    task = models.ForeignKey(
        "viewflow.Task",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    correlation_id = models.CharField(max_length=64, blank=True, db_index=True)
    details = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["process", "created_at"], name="audit_process_created")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'system'} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("AuditEvent is append-only: rows are never updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("AuditEvent is append-only: rows are never deleted")


class CorrelatedProcess(models.Model):
    """Mixin for every process model: the id that ties its logs, jobs and audit rows together."""

    correlation_id = models.UUIDField(_("correlation id"), default=uuid.uuid4, editable=False, unique=True)

    class Meta:
        abstract = True


class Incident(Task):
    """A failed automated step (a JOB task in ERROR), as the admin lists it."""

    class Meta:
        proxy = True
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")


class ProcessComment(models.Model):
    """A comment on a process, for example the reason given with a rejection."""

    process = models.ForeignKey("viewflow.Process", on_delete=models.CASCADE, related_name="comments")
    task = models.ForeignKey(
        "viewflow.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.author} on #{self.process_id}: {self.text[:40]}"


class NotificationKind(models.TextChoices):
    """What a notification is about; users choose per kind how they want to hear of it."""

    TASK_ASSIGNED = "task.assigned", _("A task was assigned to me")
    TASK_DELEGATED = "task.delegated", _("A colleague delegated a task to me")
    TASK_QUEUED = "task.queued", _("A new task is in my groups' queue")
    TASK_TAKEN = "task.taken", _("A task I held was released or reassigned by someone else")
    TASK_REMINDER = "task.reminder", _("A reminder about a task")
    TASK_ESCALATED = "task.escalated", _("A task was escalated to me")
    REQUEST_APPROVED = "request.approved", _("My request was approved")
    REQUEST_REJECTED = "request.rejected", _("My request was rejected")
    REQUEST_COMPLETED = "request.completed", _("My request was completed")
    JOB_FAILED = "job.failed", _("An automated step failed (process managers)")
    INSTANCE_CHANGED = "instance.changed", _("A process manager changed my task or request")


class Delivery(models.TextChoices):
    LIVE = "live", _("In the portal, live")
    EMAIL = "email", _("By email")
    OFF = "off", _("Not at all")


class Notification(models.Model):
    """One thing a user should hear about: the outbox of live notifications.

    Written by processes.notifications in the same transaction as the change it reports, so a
    rollback leaves none and a commit always has it. The id orders a user's notifications; the
    websocket consumer sends each user the rows after the last id the browser saw.
    """

    # Indexed by notification_user_id (user, id) below, which serves every read by user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    delivery = models.CharField(max_length=8, choices=Delivery.choices, default=Delivery.LIVE)
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=500, blank=True)
    url = models.CharField(max_length=300, blank=True)
    process = models.ForeignKey(
        "viewflow.Process", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    task = models.ForeignKey(
        "viewflow.Task", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["user", "id"], name="notification_user_id"),
            models.Index(
                fields=["user"], condition=models.Q(read_at__isnull=True), name="notification_user_unread"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} to {self.user_id}: {self.title}"


class NotificationPreference(models.Model):
    """How a user wants to hear of one kind of notification (live when no row says otherwise)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    delivery = models.CharField(max_length=8, choices=Delivery.choices, default=Delivery.LIVE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="notification_pref_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: {self.delivery}"


from processes.absences.models import Absence  # noqa: E402
from processes.actionlinks.models import ActionToken  # noqa: E402
from processes.api.models import ApiClient, ApiToken, IdempotencyRecord  # noqa: E402
from processes.attachments.models import Attachment  # noqa: E402
from processes.connectors.models import (  # noqa: E402
    ConnectorFaults,
    PaymentOperation,
    Product,
    SentEmail,
    Shipment,
    ShippingQuote,
    StockReservation,
)
from processes.languages.models import LanguagePreference  # noqa: E402
from processes.mail.models import OutgoingEmail  # noqa: E402
from processes.messages.models import MessageSubscription, ReceivedMessage  # noqa: E402
from processes.policies.models import ApprovalPolicy, PolicyStage, PolicyVersion  # noqa: E402
from processes.tasklist.models import SavedFilter, SavedFilterPin, TaskRow  # noqa: E402
from processes.webhooks.models import WebhookDelivery, WebhookEndpoint  # noqa: E402

__all__ = [
    "Absence",
    "ActionToken",
    "ApiClient",
    "ApiToken",
    "ApprovalPolicy",
    "Attachment",
    "AuditEvent",
    "ConnectorFaults",
    "CorrelatedProcess",
    "Delivery",
    "IdempotencyRecord",
    "Incident",
    "LanguagePreference",
    "MessageSubscription",
    "Notification",
    "NotificationKind",
    "NotificationPreference",
    "OutgoingEmail",
    "PaymentOperation",
    "PolicyStage",
    "PolicyVersion",
    "ProcessComment",
    "Product",
    "ReceivedMessage",
    "SavedFilter",
    "SavedFilterPin",
    "SentEmail",
    "Shipment",
    "ShippingQuote",
    "StockReservation",
    "TaskRow",
    "WebhookDelivery",
    "WebhookEndpoint",
]
