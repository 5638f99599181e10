"""Messages from the outside world that wait nodes catch (processes/nodes/wait_message.py).

A `MessageSubscription` is written when a wait node is armed: which message name and correlation
key its task waits for. A `ReceivedMessage` is every message a client sent us: kept until a wait
consumes it or its time to live ends, and kept after that for the replay window, so the same
`webhook-id` from the same client is refused (a unique constraint: concurrent replays too).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class MessageSubscription(models.Model):
    """A wait task's interest in one message: (name, correlation key). Open while its task waits."""

    name = models.CharField(max_length=100)
    correlation_key = models.CharField(max_length=200)
    task = models.OneToOneField("viewflow.Task", on_delete=models.CASCADE, related_name="+")
    process = models.ForeignKey("viewflow.Process", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("message subscription")
        verbose_name_plural = _("message subscriptions")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["name", "correlation_key"], name="msg_subscription_lookup")]

    def __str__(self) -> str:
        return f"{self.name} [{self.correlation_key}] (task {self.task_id})"


class ReceivedMessage(models.Model):
    """One message a client sent (its `webhook-id` is `message_id`)."""

    class Status(models.TextChoices):
        KEPT = "kept", _("kept (no wait consumed it yet)")
        CONSUMED = "consumed", _("consumed")
        EXPIRED = "expired", _("expired")

    client = models.ForeignKey(
        "processes.ApiClient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    client_name = models.CharField(max_length=100, help_text=_("The client's name when it sent it"))
    message_id = models.CharField(max_length=255, help_text=_("The sender's webhook-id"))
    name = models.CharField(max_length=100)
    correlation_key = models.CharField(max_length=200)
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.KEPT)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(help_text=_("A kept message expires then (its time to live)"))
    consumed_at = models.DateTimeField(null=True, blank=True)
    consumed_by = models.ForeignKey(
        "viewflow.Task",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="+",
    )

    class Meta:
        verbose_name = _("received message")
        verbose_name_plural = _("received messages")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["client_name", "message_id"], name="message_once_per_client")
        ]
        indexes = [models.Index(fields=["name", "correlation_key", "status"], name="msg_received_lookup")]

    def __str__(self) -> str:
        return f"{self.name} [{self.correlation_key}] {self.message_id} ({self.status})"
