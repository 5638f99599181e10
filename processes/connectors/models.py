"""Local fake external systems (payment gateway, inventory, shipping, mailer) and their records.

They behave like the real ones where it matters: each keeps its own records, a repeated call
with the same idempotency key returns the first result, and admins can make them fail.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Connector(models.TextChoices):
    PAYMENT = "payment", _("Payment gateway")
    INVENTORY = "inventory", _("Inventory")
    SHIPPING = "shipping", _("Shipping")
    MAILER = "mailer", _("Mailer")


class ConnectorFaults(models.Model):
    """Failure injection for one connector, editable in the admin."""

    connector = models.CharField(max_length=20, choices=Connector.choices, unique=True)
    error_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_("Share of calls (0-1) that fail with 'service unavailable' before doing anything."),
    )
    refuse_next = models.PositiveIntegerField(
        default=0, help_text=_("The next N calls fail with 'service unavailable'; counts down.")
    )
    latency_ms = models.PositiveIntegerField(
        default=0, help_text=_("Added to every answer, after the operation was done.")
    )
    timeout_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_(
            "Share of calls whose answer never comes: the operation is done, then the call times out."
        ),
    )
    timeout_seconds = models.PositiveIntegerField(
        default=10, help_text=_("How long a lost answer is waited for.")
    )
    callback_drop_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_(
            "Share of callbacks (0-1) this system never sends: the carrier's delivery callbacks "
            "(the order then waits for its timeout)."
        ),
    )

    class Meta:
        verbose_name = _("connector fault setting")
        verbose_name_plural = _("connector fault settings")

    def __str__(self) -> str:
        return self.get_connector_display()


class PaymentOperation(models.Model):
    """One call the payment gateway accepted: authorize, capture, refund or void."""

    class Kind(models.TextChoices):
        AUTHORIZE = "authorize"
        CAPTURE = "capture"
        REFUND = "refund"
        VOID = "void"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    idempotency_key = models.CharField(max_length=200)
    order_ref = models.CharField(max_length=64, db_index=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "idempotency_key"], name="payment_once_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency} ({self.reference})"


class Product(models.Model):
    """A stock-keeping unit the inventory knows, with its price and stock on hand."""

    sku = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    on_hand = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class StockReservation(models.Model):
    class Status(models.TextChoices):
        RESERVED = "reserved"
        RELEASED = "released"

    idempotency_key = models.CharField(max_length=200, unique=True)
    order_ref = models.CharField(max_length=64, db_index=True)
    lines = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RESERVED)
    reference = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.reference} ({self.status})"


class ShippingQuote(models.Model):
    idempotency_key = models.CharField(max_length=200, unique=True)
    order_ref = models.CharField(max_length=64, db_index=True)
    carrier = models.CharField(max_length=40)
    cost = models.DecimalField(max_digits=10, decimal_places=2)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.carrier} {self.cost}"


class Shipment(models.Model):
    """A shipment the carrier booked (once per idempotency key); it calls back when delivered."""

    class Status(models.TextChoices):
        BOOKED = "booked"
        DELIVERED = "delivered"

    idempotency_key = models.CharField(max_length=200, unique=True)
    order_ref = models.CharField(max_length=64, db_index=True)
    reference = models.CharField(max_length=40, unique=True)
    address = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BOOKED)
    callback_dropped = models.BooleanField(default=False)
    callback_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.reference} ({self.status})"


class SentEmail(models.Model):
    """An email the mailer sent, once per idempotency key."""

    idempotency_key = models.CharField(max_length=200, unique=True)
    to = models.EmailField()
    subject = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.to}: {self.subject}"
