"""Data of the purchase request process."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from viewflow.workflow.models import Process

from processes.models import CorrelatedProcess


class Currency(models.TextChoices):
    EUR = "EUR", "EUR"
    USD = "USD", "USD"
    GBP = "GBP", "GBP"
    CHF = "CHF", "CHF"


class PurchaseProcess(CorrelatedProcess, Process):
    """A purchase request: what a requester wants to buy, and the decision on it."""

    title = models.CharField(_("title"), max_length=200)
    amount = models.DecimalField(
        _("amount"), max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.EUR)
    justification = models.TextField(_("justification"))
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="purchase_requests",
    )
    approved = models.BooleanField(_("approved"), null=True, blank=True)

    class Meta:
        verbose_name = _("purchase request")
        verbose_name_plural = _("purchase requests")
        permissions = [
            ("start_purchase", "Can submit purchase requests"),
            ("approve_purchase", "Can approve purchase requests"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}" if self.pk else self.title


class PurchaseOrder(models.Model):
    """The purchase order created for an approved request (stands in for the ERP's record)."""

    process = models.OneToOneField(PurchaseProcess, on_delete=models.PROTECT, related_name="purchase_order")
    number = models.CharField(max_length=32, unique=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.number
