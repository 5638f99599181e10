"""Data of the order-to-cash process."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from viewflow.workflow.models import Process

from processes.languages.formats import money_format
from processes.models import CorrelatedProcess


def duration_positive(value: timedelta | None) -> None:
    """Refuse a zero or negative SLA: a review due the moment it is created is never on time."""
    if value is not None and value <= timedelta(0):
        raise ValidationError(
            _("The SLA must be longer than zero, for example 4:00:00 for four hours."), code="not_positive"
        )


class OrderPolicy(models.Model):
    """The order rules admins edit: one row, read when an order is checked for fraud.

    The check copies its rules onto the order (`OrderProcess.fraud_threshold` and
    `fraud_review_sla`), so editing the policy never changes a running order.
    """

    fraud_threshold = models.PositiveSmallIntegerField(
        default=70,
        validators=[MaxValueValidator(100)],
        help_text=_("Orders whose fraud score is above this go to a person in the fraud group."),
    )
    fraud_review_sla = models.DurationField(
        _("fraud review SLA"),
        default=timedelta(hours=4),
        validators=[duration_positive],
        help_text=_(
            "How long the fraud group has to review a suspicious order, for example 4:00:00; the "
            "holder (or the queue) is reminded then. Orders keep the SLA they were checked with."
        ),
    )

    class Meta:
        db_table = "processes_orderpolicy"  # its name under the `processes` label (ADR 0012)
        verbose_name = _("order policy")
        verbose_name_plural = _("order policy")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(fraud_review_sla__gt=timedelta(0)),
                name="orderpolicy_fraud_review_sla_positive",
                violation_error_message=_("The SLA must be longer than zero."),
            )
        ]

    def __str__(self) -> str:
        return f"fraud threshold {self.fraud_threshold}, review SLA {self.fraud_review_sla}"

    # The one row: every reader and writer uses this key (a row saved without it would be a
    # second policy that `current` never reads).
    SINGLE_PK = 1

    @classmethod
    def current(cls) -> OrderPolicy:
        policy, _ = cls.objects.get_or_create(pk=cls.SINGLE_PK)
        return policy


class OrderProcess(CorrelatedProcess, Process):  # type: ignore[django-manager-missing]  # viewflow's manager is untyped
    """One order, from payment authorization to the confirmation email (or its compensation)."""

    class PaymentMethod(models.TextChoices):
        CARD = "card", _("Card")
        INVOICE = "invoice", _("Invoice")

    class Outcome(models.TextChoices):
        OPEN = "", _("In progress")
        COMPLETED = "completed", _("Completed")
        CANCELED = "canceled", _("Canceled after fraud review")
        COMPENSATED = "compensated", _("Compensated: payment refunded")
        LOST = "lost", _("Shipped, lost in transit")

    class Delivery(models.TextChoices):
        OPEN = "", _("Not delivered yet")
        DELIVERED = "delivered", _("Delivered")
        LOST = "lost", _("Lost in transit")

    customer_name = models.CharField(_("customer"), max_length=200)
    customer_email = models.EmailField(_("customer email"))
    lines = models.JSONField(_("lines"), help_text=_('[{"sku": ..., "qty": ..., "unit_price": ...}]'))
    total = models.DecimalField(
        _("total"), max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    payment_method = models.CharField(_("payment method"), max_length=10, choices=PaymentMethod.choices)
    shipping_address = models.TextField(_("shipping address"))
    fraud_score = models.PositiveSmallIntegerField(_("fraud score"), null=True, blank=True)
    fraud_threshold = models.PositiveSmallIntegerField(_("fraud threshold applied"), null=True, blank=True)
    # Pinned from OrderPolicy by the fraud check. Orders checked before reviews had an SLA have
    # none: their review has no due time and no reminder.
    fraud_review_sla = models.DurationField(_("fraud review time allowed"), null=True, blank=True)
    fraud_cleared = models.BooleanField(_("cleared by fraud review"), null=True, blank=True)
    authorization_ref = models.CharField(_("payment authorization"), max_length=40, blank=True)
    capture_ref = models.CharField(_("payment capture"), max_length=40, blank=True)
    reservation_ref = models.CharField(_("stock reservation"), max_length=40, blank=True)
    shipping_cost = models.DecimalField(
        _("shipping cost"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    outcome = models.CharField(
        _("outcome"), max_length=12, choices=Outcome.choices, default=Outcome.OPEN, blank=True
    )
    shipment_ref = models.CharField(_("shipment"), max_length=40, blank=True)
    delivery = models.CharField(
        _("delivery"), max_length=10, choices=Delivery.choices, default=Delivery.OPEN, blank=True
    )
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        db_table = "processes_orderprocess"  # its name under the `processes` label (ADR 0012)
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        permissions = [
            ("start_order", "Can enter orders"),
            ("review_fraud", "Can review orders suspected of fraud"),
            ("chase_carrier", "Can chase the carrier about an undelivered order"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.customer_name} {money_format(self.total, self.currency)}"

    @property
    def order_ref(self) -> str:
        return f"ORD-{self.pk:06d}"
