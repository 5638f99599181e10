"""Models shared by every process: the audit trail, comments, and the correlation id mixin.

Each process keeps its own models in its subpackage (processes/purchase/models.py); they are
imported at the bottom so that Django registers them under the `processes` app.
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
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(
        max_length=150, blank=True, help_text=_("The actor's username when it happened")
    )
    action = models.CharField(max_length=64, db_index=True)
    process = models.ForeignKey(
        "viewflow.Process",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
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

    correlation_id = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)

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


from processes.connectors.models import (  # noqa: E402
    ConnectorFaults,
    PaymentOperation,
    Product,
    SentEmail,
    ShippingQuote,
    StockReservation,
)
from processes.orders.models import OrderPolicy, OrderProcess  # noqa: E402
from processes.purchase.models import PurchaseOrder, PurchaseProcess  # noqa: E402

__all__ = [
    "AuditEvent",
    "ConnectorFaults",
    "CorrelatedProcess",
    "Incident",
    "OrderPolicy",
    "OrderProcess",
    "PaymentOperation",
    "ProcessComment",
    "Product",
    "PurchaseOrder",
    "PurchaseProcess",
    "SentEmail",
    "ShippingQuote",
    "StockReservation",
]
