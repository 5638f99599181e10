"""The action token behind an email link: a hash of the secret, never the secret itself."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class LinkAction(models.TextChoices):
    APPROVE = "approve", _("Approve")
    REJECT = "reject", _("Reject")


class ActionToken(models.Model):
    """One action a named person may take once on one task, by following an email link.

    Only the sha256 of the random token is stored: a copy of the database (or the admin) cannot
    be turned back into working links. The secret does not even exist before delivery: the
    queued email (`email`) holds the placeholder `[[action-link:<placeholder>]]`, and the sender
    mints a fresh secret each time it hands the email to the SMTP server, storing its hash here
    (`minted_at`) in the transaction that records the attempt. So one token has one working
    secret at a time, and a retry's new secret makes the previous one useless. The token is bound to the addressee, the task, the action,
    and the task's state when the email went out (status, owner, candidate permission); a link
    whose task moved on since then is refused rather than acting on a situation the email did not
    describe. `used_at` makes it single use (set by a conditional UPDATE, so two clicks race for
    one row and only one wins).
    """

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey("viewflow.Task", on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=16, choices=LinkAction.choices)
    # The task's state when the link was sent (its fingerprint).
    sent_status = models.CharField(max_length=50)
    sent_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_owner_permission = models.CharField(max_length=255, blank=True)
    escalation_level = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)
    used_ip = models.GenericIPAddressField(null=True, blank=True)
    # The outbox email that carries the link, the (non-secret) key of its placeholder there, and
    # when the sender last minted the secret. Until minted, token_hash is the hash of a secret
    # nobody kept.
    email = models.ForeignKey(
        "processes.OutgoingEmail", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    placeholder = models.CharField(max_length=32, blank=True, editable=False)
    minted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("email action link")
        verbose_name_plural = _("email action links")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["task", "user"], name="actiontoken_task_user")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} task {self.task_id} for user {self.user_id}"

    @property
    def approves(self) -> bool:
        return self.action == LinkAction.APPROVE

    def is_expired(self, now=None) -> bool:
        return (now or timezone.now()) >= self.expires_at
