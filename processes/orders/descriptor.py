"""What the core needs to know about orders (processes/registry.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processes.orders import demo
from processes.orders.flows import OrderFlow, fraud_review_due_at
from processes.registry import ProcessDescriptor, TaskColumns, register
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
        "order.fraud_cleared": "Fraud review: cleared",
        "order.fraud_confirmed": "Fraud review: confirmed",
        "order.refunded": "Payment refunded",
        "order.stock_released": "Stock released",
        "order.authorization_voided": "Payment authorization voided",
        "order.delivered": "Delivered (carrier's callback)",
        "order.delivery_confirmed": "Carrier chased: delivered",
        "order.delivery_lost": "Carrier chased: lost in transit",
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

    def demo_load(self, users: Any, write: Any) -> None:
        demo.demo_load(users, write)

    def history_detail(self, action: str, details: Mapping[str, Any]) -> str:
        if action == "order.refunded":
            return str(details.get("amount", ""))
        return ""
