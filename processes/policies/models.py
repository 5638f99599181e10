"""Approval policies: a named policy has numbered versions; a version holds the ordered stages.

A version is edited as a draft, published (validated, then the policy's only active version),
and retired when a newer one is published. Published and retired versions never change: a
running process pins the version it started with, so its chain is fixed from submission on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import available_timezones

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from processes.policies.conditions import condition_holds, condition_parse


class ApprovalPolicy(models.Model):
    """A named approval chain (for example "purchase"), of which one version is active."""

    name = models.SlugField(_("name"), max_length=64, unique=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    # A policy that another app edits (the chain of an admin-defined process type, edited on its
    # type's admin pages with the request form beside it) is hidden from the policy admin.
    managed_by = models.CharField(
        _("managed by"),
        max_length=64,
        blank=True,
        editable=False,
        help_text=_("The app whose admin edits this policy's versions (empty: the policy admin)"),
    )

    class Meta:
        verbose_name = _("approval policy")
        verbose_name_plural = _("approval policies")
        ordering = ["name"]

    def __str__(self) -> str:
        # A managed policy goes by its owner's name (a process type's), kept in its description.
        return self.description if self.managed_by and self.description else self.name


class PolicyVersion(models.Model):  # type: ignore[django-manager-missing]  # the reverse manager of a plug-in's viewflow (untyped) Process
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
    currency = models.CharField(
        _("currency"),
        max_length=3,
        default="EUR",
        validators=[RegexValidator(r"^[A-Z]{3}$", _("An ISO 4217 code in capitals, for example EUR"))],
        help_text=_(
            "The stages' amount conditions are in this currency; requests in another currency are "
            "refused with a clear error (amounts are never compared across currencies)"
        ),
    )
    allow_auto_decisions = models.BooleanField(
        _("allow automatic decisions"),
        default=False,
        help_text=_("Escalation levels may approve or reject a late task on their own only when this is set"),
    )
    # The optional business calendar: with working days set, SLAs, reminders and escalation
    # levels count working time only (processes/policies/sla.py).
    working_days = models.CharField(
        _("working days"),
        max_length=13,
        blank=True,
        help_text=_("ISO weekdays, comma separated (1 = Monday): for example 1,2,3,4,5. Empty: no calendar"),
    )
    work_starts = models.TimeField(_("working hours start"), null=True, blank=True, default=None)
    work_ends = models.TimeField(_("working hours end"), null=True, blank=True, default=None)
    time_zone = models.CharField(
        _("time zone"), max_length=64, blank=True, help_text=_("For example Europe/Berlin")
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

    @property
    def has_calendar(self) -> bool:
        return bool(self.working_days.strip())

    def calendar_problems(self) -> list[str]:
        """What makes the business calendar unusable, in words ([] without a calendar or when valid)."""
        if not self.has_calendar:
            return []
        problems = []
        days = [part.strip() for part in self.working_days.split(",")]
        if not all(day in {"1", "2", "3", "4", "5", "6", "7"} for day in days):
            problems.append("Working days must be ISO weekday numbers 1 (Monday) to 7, comma separated.")
        if self.work_starts is None or self.work_ends is None:
            problems.append("A calendar needs working hours: both a start and an end.")
        elif self.work_starts >= self.work_ends:
            problems.append("Working hours must end after they start (overnight shifts are not supported).")
        if not self.time_zone or self.time_zone not in available_timezones():
            problems.append(f"The calendar's time zone {self.time_zone!r} is not a known time zone.")
        return problems

    @property
    def weekdays(self) -> set[int]:
        return {int(day) for day in self.working_days.split(",") if day.strip().isdigit()}

    @property
    def hours(self) -> tuple[time | None, time | None]:
        return self.work_starts, self.work_ends


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
    # A condition on the request form's fields (processes/policies/conditions.py), for chains
    # whose requests have a form (admin-defined process types). Parsed, never evaluated as Python.
    condition = models.TextField(
        _("condition"),
        blank=True,
        max_length=1000,
        help_text=_(
            'On the request form\'s fields, for example: amount > 1000 and department is "R&D". '
            "Empty: the stage always applies."
        ),
    )

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["version", "order"]

    def __str__(self) -> str:
        return f"{self.order}. {self.name} ({self.group.name}{self.condition_text})"

    @property
    def condition_text(self) -> str:
        if self.condition.strip():
            return f", when {self.condition.strip()}"
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

    def holds_for(self, values: Mapping[str, Any]) -> bool:
        """Does the stage apply to a request whose form holds `values` (its condition holds)?"""
        return condition_holds(condition_parse(self.condition), values)

    @property
    def group_name(self) -> str:
        return self.group.name

    @property
    def permission(self) -> str:
        """The permission that puts a task of this stage in the group's queue."""
        return f"processes.{candidate_codename(self.group_id)}"


class EscalationAction(models.TextChoices):
    NOTIFY = "notify", _("Notify the owner (or the candidates when unclaimed)")
    ADD_CANDIDATES = "add_candidates", _("Add the escalation group as candidates")
    REASSIGN = "reassign", _("Reassign to the escalation group (or user)")
    EMAIL = "email", _("Email the escalation target with action links")
    AUTO_APPROVE = "auto_approve", _("Approve automatically")
    AUTO_REJECT = "auto_reject", _("Reject automatically")


# The purchase flow declares this many level boundaries on its approval task (flows.py): a
# stage may use up to this many levels. Raising it means appending boundaries, never reordering.
MAX_ESCALATION_LEVELS = 3


class EscalationLevel(models.Model):
    """What happens when a stage's task is still open `after` its due time.

    Levels fire in order; each one's target is the stage's escalation group or user.
    """

    stage = models.ForeignKey(PolicyStage, on_delete=models.CASCADE, related_name="levels")
    order = models.PositiveSmallIntegerField(_("level"))
    after = models.DurationField(
        _("after the due time"),
        default=timedelta(0),
        help_text=_("For example 0:30:00; 0 fires at the due time"),
    )
    action = models.CharField(_("action"), max_length=16, choices=EscalationAction.choices)

    class Meta:
        verbose_name = _("escalation level")
        verbose_name_plural = _("escalation levels")
        ordering = ["stage", "order"]
        constraints = [
            models.UniqueConstraint(fields=["stage", "order"], name="escalation_level_order_unique")
        ]

    def __str__(self) -> str:
        return f"level {self.order}: {self.get_action_display()} after {self.after}"

    @property
    def needs_target(self) -> bool:
        return self.action in (
            EscalationAction.ADD_CANDIDATES,
            EscalationAction.REASSIGN,
            EscalationAction.EMAIL,
        )

    @property
    def needs_group(self) -> bool:
        """Adding candidates and emailing (which routes the task to the addressees) need a group."""
        return self.action in (EscalationAction.ADD_CANDIDATES, EscalationAction.EMAIL)

    @property
    def is_auto_decision(self) -> bool:
        return self.action in (EscalationAction.AUTO_APPROVE, EscalationAction.AUTO_REJECT)


def candidate_codename(group_id: int, *more_group_ids: int) -> str:
    """`candidate_<id>` for one group's queue; `candidates_<id>_<id>...` (sorted) for a task that
    several groups may take (an escalation added a group as candidates)."""
    ids = sorted({group_id, *more_group_ids})
    if len(ids) == 1:
        return f"candidate_{ids[0]}"
    return "candidates_" + "_".join(str(pk) for pk in ids)


def candidate_group_ids(permission: str) -> list[int]:
    """The group ids a candidate permission routes to ([] for any other permission)."""
    app_label, _, codename = permission.partition(".")
    if app_label != "processes":
        return []
    prefix, _, rest = codename.partition("_")
    parts = rest.split("_")
    if prefix not in ("candidate", "candidates") or not all(part.isdigit() for part in parts):
        return []
    if (prefix == "candidate") != (len(parts) == 1):
        return []
    return [int(part) for part in parts]


def is_candidate_permission(permission: str) -> bool:
    """'processes.candidate_<group id>' (a stage's queue) or 'processes.candidates_<id>_<id>...'
    (a task escalated to more groups): the permissions tasks are routed by."""
    return bool(candidate_group_ids(permission))
