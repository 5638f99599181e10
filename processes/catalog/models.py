"""Data of the process catalog: process types defined in the admin, and their requests.

A type's request form and approval chain are versioned together. Its chain is an approval
policy of the core (processes/policies, `managed_by="catalog"`), so its versions are policy
versions: drafted, validated, published (read-only from then on), copied to a new draft. Each
version's form fields hang off the version; a request pins the version it started with and keeps
its values by that version's field names, so a later version that renames or drops a field never
touches a running request or its history.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from viewflow.workflow.models import Process

from processes.models import CorrelatedProcess
from processes.policies.chain import StagedProcess
from processes.policies.models import ApprovalPolicy, PolicyVersion
from processes.tasklist.models import Priority

# The app label policies of process types carry in `ApprovalPolicy.managed_by`.
MANAGED_BY = "catalog"

identifier = RegexValidator(
    r"^[a-z][a-z0-9_]{0,39}$",
    _("Lower-case letters, digits and underscores, starting with a letter (at most 40)."),
)
icon_name = RegexValidator(r"^[a-z0-9_]{1,40}$", _("A Material icon name, for example beach_access."))


class FieldKind(models.TextChoices):
    TEXT = "text", _("Short text")
    LONG_TEXT = "long_text", _("Long text")
    INTEGER = "integer", _("Whole number")
    DECIMAL = "decimal", _("Decimal")
    MONEY = "money", _("Money")
    DATE = "date", _("Date")
    DATE_RANGE = "date_range", _("Date range")
    CHOICE = "choice", _("Choice (one)")
    MULTI_CHOICE = "multi_choice", _("Choice (several)")
    YES_NO = "yes_no", _("Yes or no")
    USER = "user", _("Person")
    FILE = "file", _("File")


class Outcome(models.TextChoices):
    NOTIFY = "notify", _("Notify the requester")
    EMAIL = "email", _("Notify and email the requester")
    WEBHOOK = "webhook", _("Notify the requester and call the outbound webhook")


class ProcessType(models.Model):  # type: ignore[django-manager-missing]  # the reverse manager of a viewflow (untyped) Process
    """A process type defined as data: what people request, who may, and what happens after."""

    slug = models.SlugField(
        _("address"), max_length=60, unique=True, help_text=_("Its part of the portal's addresses")
    )
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True, max_length=2000)
    icon = models.CharField(_("menu icon"), max_length=40, default="assignment", validators=[icon_name])
    starter_groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="+",
        verbose_name=_("who may start it"),
        help_text=_("Members of these groups see the type in their menu and may start requests"),
    )
    on_approved = models.CharField(
        _("on final approval"), max_length=16, choices=Outcome.choices, default=Outcome.NOTIFY
    )
    on_rejected = models.CharField(
        _("on rejection"), max_length=16, choices=Outcome.choices, default=Outcome.NOTIFY
    )
    policy = models.OneToOneField(
        ApprovalPolicy, on_delete=models.PROTECT, related_name="process_type", editable=False
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("process type")
        verbose_name_plural = _("process types")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TypeVersionManager(models.Manager["TypeVersion"]):
    def get_queryset(self) -> models.QuerySet[TypeVersion]:
        return super().get_queryset().filter(policy__managed_by=MANAGED_BY)


class TypeVersion(PolicyVersion):  # type: ignore[django-manager-missing]  # reverse managers of viewflow (untyped) Processes
    """A process type's version in the admin: its chain (a policy version) with its form."""

    objects: ClassVar[TypeVersionManager] = TypeVersionManager()

    class Meta:
        proxy = True
        verbose_name = _("process type version")
        verbose_name_plural = _("process type versions")


class FormField(models.Model):
    """One field of a version's request form, with its bounds.

    Bounds by kind: texts take a minimum and maximum length; numbers and money a minimum and
    maximum value; a date a minimum and maximum in days from the day of the request (0: not in
    the past); a date range a minimum and maximum length in days; choices their options, one
    per line."""

    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="form_fields")
    order = models.PositiveSmallIntegerField(_("order"))
    name = models.CharField(
        _("name"), max_length=40, validators=[identifier], help_text=_("Used in conditions: days, amount")
    )
    label = models.CharField(_("label"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=FieldKind.choices)
    help_text = models.CharField(_("help text"), max_length=300, blank=True)
    required = models.BooleanField(_("required"), default=True)
    min_length = models.PositiveIntegerField(_("minimum length"), null=True, blank=True)
    max_length = models.PositiveIntegerField(
        _("maximum length"), null=True, blank=True, validators=[MaxValueValidator(10000)]
    )
    min_value = models.DecimalField(_("minimum"), max_digits=14, decimal_places=2, null=True, blank=True)
    max_value = models.DecimalField(_("maximum"), max_digits=14, decimal_places=2, null=True, blank=True)
    choices = models.TextField(_("options"), blank=True, help_text=_("One per line, for choices"))
    currency = models.CharField(
        _("currency"),
        max_length=3,
        blank=True,
        validators=[RegexValidator(r"^[A-Z]{3}$", _("An ISO 4217 code in capitals, for example EUR"))],
        help_text=_("For money: the one currency amounts are entered in"),
    )

    class Meta:
        verbose_name = _("form field")
        verbose_name_plural = _("form fields")
        ordering = ["version", "order"]
        constraints = [
            models.UniqueConstraint(fields=["version", "name"], name="catalog_field_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.name}, {self.get_kind_display()})"

    @property
    def options(self) -> list[str]:
        return [line.strip() for line in self.choices.splitlines() if line.strip()]


class CatalogRequest(StagedProcess, CorrelatedProcess, Process):  # type: ignore[django-manager-missing]  # viewflow's manager is untyped
    """A request of a process type: its form's values under the version it pinned, and the
    decision on it."""

    process_type = models.ForeignKey(
        ProcessType, on_delete=models.PROTECT, related_name="requests", verbose_name=_("process type")
    )
    version = models.ForeignKey(
        PolicyVersion, on_delete=models.PROTECT, related_name="catalog_requests", verbose_name=_("version")
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="catalog_requests",
        verbose_name=_("requester"),
    )
    # The form's values by field name, as JSON (processes/catalog/fields.py converts them).
    values = models.JSONField(_("values"), default=dict)
    subject = models.CharField(_("subject"), max_length=200)
    # The first money field, for the task lists' amount column.
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    approved = models.BooleanField(_("approved"), null=True, blank=True)
    stage_order = models.PositiveSmallIntegerField(_("current stage"), null=True, blank=True)

    class Meta:
        verbose_name = _("catalog request")
        verbose_name_plural = _("catalog requests")
        permissions = [("approve_request", "Can approve catalog requests (a stage's group routes each)")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}" if self.pk else self.subject

    def chain(self) -> list[Any]:
        """The stages this request goes through: those of its pinned version whose condition
        holds for its values, in order. Read once per loaded instance (a pinned version never
        changes, and neither do a request's values)."""
        cached = self.__dict__.get("_chain")
        if cached is None:
            from processes.catalog.fields import values_typed
            from processes.catalog.selectors import pinned_version, version_fields
            from processes.policies.selectors import policy_chain_stages

            stages = policy_chain_stages(self.version_id)
            if stages and not type(self).version.is_cached(self):
                # The chain's query checked this version row: the fields kept for it hold.
                self.version = copy.copy(stages[0].version)
            typed = values_typed(version_fields(pinned_version(self)), self.values)
            cached = [stage for stage in stages if stage.holds_for(typed)]
            self.__dict__["_chain"] = cached
        return list(cached)
