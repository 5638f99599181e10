"""OutgoingEmail: an email written in the transaction that decided to send it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutgoingEmail(models.Model):
    """One email to one address. PENDING until an SMTP server accepted it (SENT), or until it
    failed `EMAIL_MAX_ATTEMPTS` times (FAILED, audited). The process and task are plain
    references, for the audit event of a failure and for the admin."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=32)
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_address = models.EmailField(_("to"))
    subject = models.CharField(_("subject"), max_length=255)
    text = models.TextField(_("text"))
    html = models.TextField(_("HTML"), blank=True)
    headers = models.JSONField(default=dict, blank=True)
    # The W3C traceparent of the request or job that queued it (empty when tracing is off), so a
    # retry by the sweep still sends within that trace (processes/tracing.py).
    traceparent = models.CharField(max_length=64, blank=True, editable=False)
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
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("outgoing email")
        verbose_name_plural = _("outgoing emails")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="email_pending_due", condition=models.Q(status="pending")
            ),
            # /metrics counts the pending and failed ones without reading the sent history
            models.Index(
                fields=["status"], name="email_unsent", condition=models.Q(status__in=["pending", "failed"])
            ),
        ]

    def __str__(self) -> str:
        return f"{self.to_address}: {self.subject}"
