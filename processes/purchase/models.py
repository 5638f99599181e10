"""Data of the purchase request process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from viewflow.workflow.models import Process

from processes.models import CorrelatedProcess
from processes.policies.chain import StagedProcess
from processes.tasklist.models import Priority

# The approval policy purchase requests pin (processes/policies): its name.
PURCHASE_POLICY = "purchase"


class Currency(models.TextChoices):
    EUR = "EUR", "EUR"
    USD = "USD", "USD"
    GBP = "GBP", "GBP"
    CHF = "CHF", "CHF"


class PurchaseProcess(StagedProcess, CorrelatedProcess, Process):  # type: ignore[django-manager-missing]  # viewflow's manager is untyped
    """A purchase request: what a requester wants to buy, and the decision on it."""

    title = models.CharField(_("title"), max_length=200)
    amount = models.DecimalField(
        _("amount"), max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.EUR)
    justification = models.TextField(_("justification"))
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="purchase_requests",
        verbose_name=_("requester"),
    )
    approved = models.BooleanField(_("approved"), null=True, blank=True)
    # The approval chain: the policy version pinned at submission (None: no policy was published,
    # and the approvers group decides alone), and the `order` of the stage in progress.
    policy_version = models.ForeignKey(
        "processes.PolicyVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="purchase_processes",
        verbose_name=_("policy version"),
    )
    stage_order = models.PositiveSmallIntegerField(_("current stage"), null=True, blank=True)
    revision = models.PositiveIntegerField(_("revision"), default=0)
    withdrawn = models.BooleanField(_("withdrawn"), default=False)

    class Meta:
        db_table = "processes_purchaseprocess"  # its name under the `processes` label (ADR 0012)
        verbose_name = _("purchase request")
        verbose_name_plural = _("purchase requests")
        permissions = [
            ("start_purchase", "Can submit purchase requests"),
            ("approve_purchase", "Can approve purchase requests"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}" if self.pk else self.title

    def chain(self) -> list[Any]:
        """The stages this request goes through: those of its pinned version whose amount
        condition holds, in order (the single default stage without a policy)."""
        if self.policy_version_id is None:
            return [DEFAULT_STAGE]
        # Read once per loaded instance: a pinned version never changes, and a request reads its
        # chain several times per step (routing, the task row, the history). A revision may
        # change the amount, hence the key.
        key = (self.policy_version_id, self.amount)
        cached = self.__dict__.get("_chain")
        if cached is None or cached[0] != key:
            from processes.policies.selectors import policy_chain_stages

            stages = [
                stage
                for stage in policy_chain_stages(self.policy_version_id)
                if stage.applies_to(self.amount)
            ]
            self.__dict__["_chain"] = cached = (key, stages)
        return list(cached[1])


@dataclass(frozen=True)
class DefaultStage:
    """The chain of a request submitted while no purchase policy is published."""

    order: int = 1
    name: str = "Approval"
    group_name: str = "approvers"
    permission: str = "purchase.approve_purchase"
    sla: timedelta | None = None
    condition_text: str = ""


DEFAULT_STAGE = DefaultStage()


class PurchaseOrder(models.Model):
    """The purchase order created for an approved request (stands in for the ERP's record)."""

    process = models.OneToOneField(PurchaseProcess, on_delete=models.PROTECT, related_name="purchase_order")
    number = models.CharField(max_length=32, unique=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "processes_purchaseorder"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.number
