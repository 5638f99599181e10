"""What the core needs to know about orders (processes/registry.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext_noop

from processes.languages.formats import money_format
from processes.orders import demo
from processes.orders.flows import OrderFlow, fraud_review_due_at
from processes.orders.forms import MAX_LINES
from processes.orders.models import OrderProcess
from processes.orders.services import order_start_api
from processes.registry import (
    ApiStartInvalid,
    ApiStartType,
    ProcessDescriptor,
    TaskColumns,
    register,
    validation_errors,
)
from processes.tasklist.models import Priority


@register
class OrderDescriptor(ProcessDescriptor):
    flow = OrderFlow
    icon = "local_shipping"
    roles = {
        "managers": ["orders.view_orderprocess", "orders.manage_orderprocess", "orders.chase_carrier"],
        "sales": ["orders.view_orderprocess", "orders.start_order", "orders.chase_carrier"],
        "fraud": ["orders.view_orderprocess", "orders.review_fraud"],
    }
    # Sales and fraud reviewers work on every order, not only the ones they entered or reviewed.
    visible_model_wide = True
    history_labels = {
        "order.fraud_cleared": gettext_noop("Fraud review: cleared"),
        "order.fraud_confirmed": gettext_noop("Fraud review: confirmed"),
        "order.refunded": gettext_noop("Payment refunded"),
        "order.stock_released": gettext_noop("Stock released"),
        "order.authorization_voided": gettext_noop("Payment authorization voided"),
        "order.delivered": gettext_noop("Delivered (carrier's callback)"),
        "order.delivery_confirmed": gettext_noop("Carrier chased: delivered"),
        "order.delivery_lost": gettext_noop("Carrier chased: lost in transit"),
    }

    def summary(self, process: Any) -> str:
        return f"{process.order_ref} {process.customer_name}: {process.total} {process.currency}"

    def columns(self, task: Any, process: Any, stage: Any = None) -> TaskColumns:
        node = task.flow_task
        # The fraud review's SLA is pinned on the order (None for orders checked before it was).
        due = fraud_review_due_at(process, task.created) if node.name == "review_fraud" else None
        return TaskColumns(
            subject=f"{process.order_ref} {process.customer_name}",
            requester=process.customer_name,
            amount=process.total,
            currency=process.currency,
            stage_name=str(node.task_title or node.name),
            priority=Priority.HIGH,
            due_at=due,
        )

    def api_start_types(self, *, user: Any, system: bool) -> list[ApiStartType]:
        # An order is what an outside system (the shop) sends: any client with processes:start;
        # a person needs the right to enter orders.
        if system or (user is not None and user.has_perm("orders.start_order")):
            return [ApiStartType(kind="", title=self.title, schema=ORDER_SCHEMA)]
        return []

    def api_start(self, *, kind: str, data: Mapping[str, Any], user: Any, system: bool) -> Any:
        try:
            return order_start_api(order=dict(data), starter=None if system else user)
        except forms.ValidationError as exc:
            raise ApiStartInvalid(validation_errors(exc)) from None

    def demo_load(self, users: Any, write: Any) -> None:
        demo.demo_load(users, write)

    def history_detail(self, action: str, details: Mapping[str, Any]) -> str:
        if action == "order.refunded":
            return money_format(details.get("amount"), details.get("currency", ""))
        return ""


ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "customer_name": {"type": "string", "maxLength": 200},
        "customer_email": {"type": "string", "format": "email"},
        "payment_method": {"type": "string", "enum": list(OrderProcess.PaymentMethod.values)},
        "shipping_address": {"type": "string"},
        "lines": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_LINES,
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
                "required": ["sku", "qty"],
            },
        },
    },
    "required": ["customer_name", "customer_email", "payment_method", "shipping_address", "lines"],
}
