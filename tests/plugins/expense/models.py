"""Data of the expense claim process."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from viewflow.workflow.models import Process

from processes.models import CorrelatedProcess

# The approval policy expense claims pin (processes/policies): its name.
EXPENSE_POLICY = "expense"


class ExpenseProcess(CorrelatedProcess, Process):
    """An expense claim: what a claimant spent, and the decision on paying it back."""

    title = models.CharField(max_length=200)
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    currency = models.CharField(max_length=3, default="EUR")
    claimant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="expense_claims",
    )
    approved = models.BooleanField(null=True, blank=True)
    # The policy version pinned when the claim was submitted (None: none was published, and the
    # node's own permission routes the approval).
    policy_version = models.ForeignKey(
        "processes.PolicyVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="expense_processes",
    )

    class Meta:
        verbose_name = "expense claim"
        verbose_name_plural = "expense claims"
        permissions = [
            ("start_expense", "Can submit expense claims"),
            ("approve_expense", "Can approve expense claims"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}" if self.pk else self.title

    @property
    def current_stage(self) -> Any:
        """The one approval stage of the pinned version whose amount condition holds, or None."""
        if self.policy_version_id is None:
            return None
        cached = self.__dict__.get("_stage")
        if cached is None or cached[0] != (self.policy_version_id, self.amount):
            from processes.policies.selectors import policy_chain_stages

            stage = next(
                (s for s in policy_chain_stages(self.policy_version_id) if s.applies_to(self.amount)), None
            )
            self.__dict__["_stage"] = cached = ((self.policy_version_id, self.amount), stage)
        return cached[1]
