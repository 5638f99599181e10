"""Subscriptions (WebhookEndpoint) and the outbox of their deliveries (WebhookDelivery)."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EventType(models.TextChoices):
    """The events a client can subscribe to; the names are part of the API (never renamed)."""

    PROCESS_STARTED = "process.started", _("Process started")
    TASK_CREATED = "task.created", _("Task created (people's tasks)")
    TASK_DECIDED = "task.decided", _("Task decided")
    PROCESS_COMPLETED = "process.completed", _("Process completed")
    PROCESS_COMPENSATED = "process.compensated", _("Process compensated")
    INCIDENT_OPENED = "incident.opened", _("Incident opened (an automated step failed)")


def events_validate(value: object) -> None:
    if not isinstance(value, list) or not value or not all(isinstance(name, str) for name in value):
        raise ValidationError(_("Choose at least one event."))
    unknown = sorted(set(value) - set(EventType.values))
    if unknown:
        raise ValidationError(
            _("Unknown event %(unknown)s; the events are %(known)s."),
            params={"unknown": ", ".join(unknown), "known": ", ".join(EventType.values)},
        )


def msg_id_new() -> str:
    """A message id for the webhook-id header (`msg_` and 32 hex digits)."""
    return f"msg_{uuid.uuid4().hex}"


class WebhookEndpoint(models.Model):
    """Where an API client (with the `webhooks:receive` scope) wants to hear of `events`.

    A receiver answering 410 Gone disables it (`disabled_at`, `disabled_reason`) and stops its
    pending deliveries; an admin enables it again."""

    client = models.ForeignKey(
        "processes.ApiClient", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(
        _("URL"), max_length=500, help_text=_("https:// (or http://) address the events are POSTed to")
    )
    events = models.JSONField(default=list, validators=[events_validate])
    description = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["client__name", "url", "id"]

    def __str__(self) -> str:
        return f"{self.client}: {self.url}"

    def subscribes(self, event_type: str) -> bool:
        return event_type in (self.events or [])


class WebhookDelivery(models.Model):
    """One event for one endpoint. PENDING until the receiver answers 2xx (DELIVERED), or until
    WEBHOOK_MAX_ATTEMPTS attempts failed (FAILED, audited), or its endpoint was disabled
    (CANCELED). `msg_id` is the webhook-id header: the same on every attempt and on a replay of
    the same event, so a receiver dedupes by it. `payload` is the envelope as sent."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled (endpoint disabled)")

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(_("event"), max_length=40, choices=EventType.choices)
    msg_id = models.CharField(_("webhook-id"), max_length=64, default=msg_id_new, db_index=True)
    payload = models.JSONField()
    # Plain references, for the admin and for amending an event inside its transaction.
    process_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    task_id = models.BigIntegerField(null=True, blank=True)
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays"
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_status_code = models.PositiveSmallIntegerField(_("last status code"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="webhook_pending_due", condition=models.Q(status="pending")
            ),
            # /metrics counts the pending and failed ones without reading the delivered history
            models.Index(
                fields=["status"], name="webhook_unsent", condition=models.Q(status__in=["pending", "failed"])
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.msg_id})"
