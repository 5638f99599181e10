from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from processes.connectors.models import Product
from processes.forms import TaskDecisionForm
from processes.orders.models import OrderProcess

MAX_LINES = 50


class OrderForm(forms.ModelForm):
    """An order as a person enters it: one 'SKU quantity' per line; prices come from the catalogue."""

    order_lines = forms.CharField(
        label=_("Lines"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One line per product: SKU and quantity, e.g. DESK-01 2"),
    )

    class Meta:
        model = OrderProcess
        fields = ["customer_name", "customer_email", "payment_method", "shipping_address"]
        widgets = {"shipping_address": forms.Textarea(attrs={"rows": 3})}

    def clean_order_lines(self) -> list[dict]:
        return parse_lines(self.cleaned_data["order_lines"])


def parse_lines(text: str) -> list[dict]:
    """'SKU qty' lines -> [{"sku", "qty", "unit_price"}], priced from the catalogue. Raises ValidationError."""
    wanted: dict[str, int] = {}
    for number, raw in enumerate(text.strip().splitlines(), start=1):
        if not raw.strip():
            continue
        parts = raw.split()
        if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) < 1:
            raise forms.ValidationError(
                _("Line %(n)s: write a SKU and a quantity, e.g. DESK-01 2"), params={"n": number}
            )
        wanted[parts[0].upper()] = wanted.get(parts[0].upper(), 0) + int(parts[1])
    if not wanted:
        raise forms.ValidationError(_("An order needs at least one line."))
    if len(wanted) > MAX_LINES:
        raise forms.ValidationError(_("An order has at most %(max)s lines."), params={"max": MAX_LINES})
    products = {p.sku: p for p in Product.objects.filter(sku__in=wanted)}
    unknown = sorted(set(wanted) - set(products))
    if unknown:
        raise forms.ValidationError(_("Unknown SKU: %(skus)s"), params={"skus": ", ".join(unknown)})
    return [
        {"sku": sku, "qty": qty, "unit_price": str(products[sku].unit_price)} for sku, qty in wanted.items()
    ]


def lines_total(lines: list[dict]) -> Decimal:
    return sum((Decimal(line["unit_price"]) * int(line["qty"]) for line in lines), Decimal("0"))


class FraudReviewForm(TaskDecisionForm):
    """A fraud analyst's decision: let the order through, or cancel it with a reason."""

    choices = [("release", _("Not fraud: continue")), ("cancel", _("Fraud: cancel the order"))]
    reason_required = _("Say why the order is cancelled.")


class ChaseCarrierForm(TaskDecisionForm):
    """No delivery callback came: after asking the carrier, a person says what happened."""

    choices = [("delivered", _("The carrier says it was delivered")), ("lost", _("The parcel is lost"))]
    reason_required = _("Say what the carrier said about the lost parcel.")
