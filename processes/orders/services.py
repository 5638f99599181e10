"""Use cases of the order-to-cash process: starting an order, the automated steps, fraud review.

The step functions run in the worker (CeleryJob) and call the connectors with the step's
idempotency key, so a repeated attempt or delivery never charges, reserves or emails twice.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import transaction
from django.utils import timezone

from processes.audit import audit_record
from processes.connectors import services as connectors
from processes.nodes import JobCall
from processes.orders.forms import OrderForm, lines_total
from processes.orders.models import OrderPolicy, OrderProcess
from processes.services import decision_record, task_executing

# Domains whose orders the fake scorer treats as risky (used to show the fraud review path).
RISKY_DOMAINS = {"mailinator.com", "risky.example"}


def fraud_score_of(order: OrderProcess) -> int:
    """A deterministic stand-in for a fraud scoring service: 0 (fine) to 99 (certainly fraud)."""
    score = 5 + min(40, int(order.total // 100))
    if order.payment_method == OrderProcess.PaymentMethod.INVOICE:
        score += 15
    if order.customer_email.rsplit("@", 1)[-1].lower() in RISKY_DOMAINS:
        score += 70
    return min(score, 99)


def _fill(process: OrderProcess, data: dict[str, Any]) -> OrderProcess:
    for field in ("customer_name", "customer_email", "payment_method", "shipping_address"):
        setattr(process, field, data[field])
    process.lines = data["lines"]
    process.total = lines_total(process.lines)
    process.currency = data.get("currency") or "EUR"
    process.full_clean(exclude=["flow_class", "status", "created", "finished", "data", "parent_task"])
    return process


@transaction.atomic
def order_submit(*, activation: Any, data: dict[str, Any]) -> OrderProcess:
    """Start an order from the portal form's cleaned data."""
    _fill(activation.process, {**data, "lines": data["order_lines"]})
    activation.execute()
    return activation.process


def order_start_api(*, order: dict[str, Any], starter: Any = None) -> OrderProcess:
    """Start an order sent by an external system: validated like the form, then started headless.

    `order` has customer_name, customer_email, payment_method, shipping_address and lines as
    [{"sku", "qty"}]; `starter` is the person who entered it (None: a system). Raises
    django.forms.ValidationError with the form's messages by field (`lines` for the lines).
    """
    from processes.orders.flows import OrderFlow

    lines = order.get("lines")
    if not isinstance(lines, list) or not all(
        isinstance(line, dict) and isinstance(line.get("sku"), str) and isinstance(line.get("qty"), int)
        for line in lines
    ):
        raise forms.ValidationError({"lines": ['A list of {"sku": "DESK-01", "qty": 2}.']})
    form = OrderForm(
        data={
            **order,
            "order_lines": "\n".join(f"{line['sku']} {line['qty']}" for line in lines),
        }
    )
    if not form.is_valid():
        errors = {("lines" if field == "order_lines" else field): msgs for field, msgs in form.errors.items()}
        raise forms.ValidationError(errors)
    return OrderFlow.start_api.run(
        data={**form.cleaned_data, "lines": form.cleaned_data["order_lines"]}, starter=starter
    )


def order_start_handle(activation: Any, data: dict[str, Any], starter: Any = None) -> OrderProcess:
    """The StartHandle's body: fill the new process (viewflow saves it and continues); the start
    task's owner is the person who entered it, if one did."""
    if starter is not None:
        activation.task.owner = starter
    return _fill(activation.process, data)


# ---------------------------------------------------------------- automated steps (worker)


def order_payment_authorize(call: JobCall) -> None:
    order = call.process
    operation = connectors.payment_authorize(
        key=call.idempotency_key, order_ref=order.order_ref, amount=order.total, currency=order.currency
    )
    call.save_process(authorization_ref=operation.reference)


def order_fraud_check(call: JobCall) -> None:
    """Score the order and pin the policy it is checked with: its threshold decides whether a
    person reviews it, its SLA when that review is due (a later policy edit changes neither)."""
    order = call.process
    policy = OrderPolicy.current()
    call.save_process(
        fraud_score=fraud_score_of(order),
        fraud_threshold=policy.fraud_threshold,
        fraud_review_sla=policy.fraud_review_sla,
    )


def order_needs_review(activation: Any) -> bool:
    order = activation.process
    return order.fraud_score is not None and order.fraud_score > order.fraud_threshold


def order_payment_capture(call: JobCall) -> None:
    order = call.process
    operation = connectors.payment_capture(
        key=call.idempotency_key, order_ref=order.order_ref, amount=order.total, currency=order.currency
    )
    call.save_process(capture_ref=operation.reference)


def order_inventory_reserve(call: JobCall) -> None:
    order = call.process
    reservation = connectors.inventory_reserve(
        key=call.idempotency_key,
        order_ref=order.order_ref,
        lines=[{"sku": line["sku"], "qty": line["qty"]} for line in order.lines],
    )
    call.save_process(reservation_ref=reservation.reference)


def order_shipping_calculate(call: JobCall) -> None:
    order = call.process
    quote = connectors.shipping_quote(
        key=call.idempotency_key, order_ref=order.order_ref, lines=order.lines, address=order.shipping_address
    )
    call.save_process(shipping_cost=quote.cost)


def _mail_customer(call: JobCall, subject: str, body: str) -> None:
    order = call.process
    connectors.mail_send(key=call.idempotency_key, to=order.customer_email, subject=subject, body=body)


def order_confirmation_send(call: JobCall) -> None:
    order = call.process
    _mail_customer(
        call,
        f"Order {order.order_ref} confirmed",
        f"Dear {order.customer_name},\n\nyour order {order.order_ref} of {order.total} {order.currency} "
        f"is confirmed and will be shipped to:\n{order.shipping_address}\n\nShipping: {order.shipping_cost}.",
    )
    call.save_process(outcome=OrderProcess.Outcome.COMPLETED)


def order_cancel(call: JobCall) -> None:
    """After a fraud review said no: release the authorization and tell the customer."""
    order = call.process
    connectors.payment_void(key=call.idempotency_key, order_ref=order.order_ref, currency=order.currency)
    _mail_customer(
        call,
        f"Order {order.order_ref} cancelled",
        f"Dear {order.customer_name},\n\nwe could not accept your order {order.order_ref}.",
    )
    call.save_process(outcome=OrderProcess.Outcome.CANCELED)


def order_ship(call: JobCall) -> None:
    """Book the shipment with the carrier (once per key); it calls back when delivered."""
    order = call.process
    shipment = connectors.shipment_book(
        key=call.idempotency_key, order_ref=order.order_ref, address=order.shipping_address
    )
    call.save_process(shipment_ref=shipment.reference)


def order_delivered(activation: Any) -> None:
    """The carrier's "shipment.delivered" message was taken by the wait: note the delivery."""
    order: OrderProcess = activation.process
    wait = activation.task.previous.get()
    message = (wait.data or {}).get("message") or {}
    order.delivery = OrderProcess.Delivery.DELIVERED
    order.delivered_at = timezone.now()
    order.save(update_fields=["delivery", "delivered_at"])
    audit_record(
        action="order.delivered",
        process=order,
        details={"message_id": message.get("id", ""), "shipment": order.shipment_ref},
    )


@transaction.atomic
def order_delivery_chased(*, activation: Any, user: Any, delivered: bool, comment: str) -> OrderProcess:
    """No callback came in time; a person asked the carrier: delivered, or lost (with a reason)."""
    order: OrderProcess = activation.process
    comment = comment.strip()
    if not delivered and not comment:
        raise ValueError("A lost parcel needs a comment")
    order.delivery = OrderProcess.Delivery.DELIVERED if delivered else OrderProcess.Delivery.LOST
    fields = ["delivery"]
    if delivered:
        order.delivered_at = timezone.now()
        fields.append("delivered_at")
    else:
        order.outcome = OrderProcess.Outcome.LOST
        fields.append("outcome")
    order.save(update_fields=fields)
    decision_record(
        activation=activation,
        user=user,
        action="order.delivery_confirmed" if delivered else "order.delivery_lost",
        comment=comment,
        details={"shipment": order.shipment_ref},
    )
    return order


def order_chase_task_decide(*, task: Any, user: Any, delivered: bool, comment: str = "") -> OrderProcess:
    """The same decision without the web form (tests, later the API)."""
    with task_executing(task=task, user=user) as activation:
        return order_delivery_chased(activation=activation, user=user, delivered=delivered, comment=comment)


# ---------------------------------------------------------------- compensation (worker)


def order_payment_refund(call: JobCall) -> None:
    order = call.process
    connectors.payment_refund(
        key=call.idempotency_key, order_ref=order.order_ref, amount=order.total, currency=order.currency
    )
    audit_record(
        action="order.refunded",
        process=order,
        details={"amount": str(order.total), "currency": order.currency},
    )


def order_inventory_release(call: JobCall) -> None:
    order = call.process
    if connectors.inventory_release(key=call.idempotency_key, order_ref=order.order_ref) is not None:
        audit_record(action="order.stock_released", process=order)


def order_payment_void(call: JobCall) -> None:
    order = call.process
    if connectors.payment_void(key=call.idempotency_key, order_ref=order.order_ref, currency=order.currency):
        audit_record(action="order.authorization_voided", process=order)


def order_compensation_notify(call: JobCall) -> None:
    order = call.process
    _mail_customer(
        call,
        f"Order {order.order_ref} could not be completed",
        f"Dear {order.customer_name},\n\nwe could not complete your order {order.order_ref}. "
        "Any payment taken is refunded in full.",
    )
    call.save_process(outcome=OrderProcess.Outcome.COMPENSATED)


# ---------------------------------------------------------------- fraud review (person)


@transaction.atomic
def order_fraud_decide(*, activation: Any, user: Any, cleared: bool, comment: str) -> OrderProcess:
    """A fraud analyst releases the order, or cancels it (with a reason)."""
    order: OrderProcess = activation.process
    comment = comment.strip()
    if not cleared and not comment:
        raise ValueError("Cancelling an order needs a comment")
    order.fraud_cleared = cleared
    order.save(update_fields=["fraud_cleared"])
    decision_record(
        activation=activation,
        user=user,
        action="order.fraud_cleared" if cleared else "order.fraud_confirmed",
        comment=comment,
        details={"score": order.fraud_score},
    )
    return order


def order_fraud_task_decide(*, task: Any, user: Any, cleared: bool, comment: str = "") -> OrderProcess:
    """The same decision without the web form (tests, later the API)."""
    with task_executing(task=task, user=user) as activation:
        return order_fraud_decide(activation=activation, user=user, cleared=cleared, comment=comment)
