"""Approval policies: a named policy has numbered versions; a version holds the ordered stages.

A version is edited as a draft, published (validated, then the policy's only active version),
and retired when a newer one is published. Published and retired versions never change: a
running process pins the version it started with, so its chain is fixed from submission on.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils.translation import gettext_lazy as _


class ApprovalPolicy(models.Model):
    """A named approval chain (for example "purchase"), of which one version is active."""

    name = models.SlugField(_("name"), max_length=64, unique=True)
    description = models.CharField(_("description"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("approval policy")
        verbose_name_plural = _("approval policies")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PolicyVersion(models.Model):
    """One version of a policy's chain. Only drafts are edited; publishing freezes a version."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        RETIRED = "retired", _("Retired")

    policy = models.ForeignKey(ApprovalPolicy, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("number"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    note = models.CharField(_("note"), max_length=200, blank=True, help_text=_("What changed, and why"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("policy version")
        verbose_name_plural = _("policy versions")
        ordering = ["policy", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="policy_version_number_unique"),
            models.UniqueConstraint(
                fields=["policy"], condition=models.Q(status="published"), name="policy_one_published"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} v{self.number} ({self.get_status_display()})"

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT


class EscalationAction(models.TextChoices):
    NONE = "none", _("Do nothing")
    NOTIFY = "notify", _("Notify the escalation target")
    REASSIGN = "reassign", _("Reassign the task to the escalation target")


class PolicyStage(models.Model):
    """One human stage of a chain: who decides, for which amounts, how fast, and what happens late.

    The amount condition is a range: the stage applies when the amount is above `amount_above`
    (if set) and at most `amount_up_to` (if set); with neither, it applies to every request.
    """

    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="stages")
    order = models.PositiveSmallIntegerField(_("order"))
    name = models.CharField(_("name"), max_length=100)
    group = models.ForeignKey(
        Group, on_delete=models.PROTECT, related_name="+", verbose_name=_("candidate group")
    )
    amount_above = models.DecimalField(
        _("only when the amount is above"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    amount_up_to = models.DecimalField(
        _("only when the amount is at most"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    sla = models.DurationField(_("SLA"), default=timedelta(days=2), help_text=_("For example 2 00:00:00"))
    reminder_before = models.DurationField(
        _("reminder before due"), null=True, blank=True, help_text=_("Empty: no reminder")
    )
    escalation_group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    escalation_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    escalation_action = models.CharField(
        _("escalation action"), max_length=16, choices=EscalationAction.choices, default=EscalationAction.NONE
    )

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["version", "order"]

    def __str__(self) -> str:
        return f"{self.order}. {self.name} ({self.group.name}{self.condition_text})"

    @property
    def condition_text(self) -> str:
        if self.amount_above is not None and self.amount_up_to is not None:
            return f", above {self.amount_above} up to {self.amount_up_to}"
        if self.amount_above is not None:
            return f", above {self.amount_above}"
        if self.amount_up_to is not None:
            return f", up to {self.amount_up_to}"
        return ""

    def applies_to(self, amount: Decimal) -> bool:
        return (self.amount_above is None or amount > self.amount_above) and (
            self.amount_up_to is None or amount <= self.amount_up_to
        )

    @property
    def group_name(self) -> str:
        return self.group.name

    @property
    def permission(self) -> str:
        """The permission that puts a task of this stage in the group's queue."""
        return f"processes.{candidate_codename(self.group_id)}"


def candidate_codename(group_id: int) -> str:
    return f"candidate_{group_id}"


def is_candidate_permission(permission: str) -> bool:
    """'processes.candidate_<group id>': the permission a stage's queue is routed by."""
    app_label, _, codename = permission.partition(".")
    return app_label == "processes" and codename.startswith("candidate_") and codename[10:].isdigit()
