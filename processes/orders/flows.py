from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from viewflow import this
from viewflow.workflow import act, flow

from processes import locks, nodes
from processes.escalation import services as escalation_services
from processes.nodes import CeleryJob, DeadlineView, JobCall, deadline_host_task, deadline_path_host
from processes.nodes.celery_job import RetryPolicy
from processes.nodes.wait_message import WaitMessage
from processes.orders import services, views
from processes.orders.models import OrderProcess

# External calls retry what is worth retrying (ConnectorUnavailable); a refusal
# (ConnectorRefused) fails at once.
PAYMENT_RETRY = RetryPolicy(max_attempts=6, base_delay=1.0, max_delay=30.0)
MAIL_RETRY = RetryPolicy(max_attempts=4, base_delay=2.0, max_delay=60.0)


def fraud_review_due_at(order: Any, start: datetime) -> datetime | None:
    """The due moment of `order`'s fraud review created at `start`: `start` plus the SLA pinned
    on the order when it was checked for fraud (None when none was pinned: orders checked before
    fraud reviews had an SLA)."""
    sla = getattr(order, "fraud_review_sla", None)
    if sla is None:
        return None
    return start + sla


def review_due(activation):
    """The fraud review's reminder delay: its due moment, or None (no timer) when the order was
    checked before fraud reviews had an SLA."""
    return fraud_review_due_at(activation.process, deadline_host_task(activation).created)


def order_ref_of(process: Any) -> str:
    """The correlation key of an order's waits: its ref (the carrier knows it)."""
    return process.order_ref


def delivery_timeout(activation: Any) -> timedelta:
    """How long an order waits for the carrier's callback before a person chases it."""
    return timedelta(seconds=settings.ORDER_DELIVERY_TIMEOUT)


class OrderFlow(flow.Flow):
    """Order to cash

    An order is paid, checked for fraud (a person reviews the suspicious ones), captured,
    reserved, priced for shipping, confirmed and shipped; then it waits for the carrier's
    delivery callback (a person chases the carrier when none comes in time). When a step after
    the payment fails for good, the flow compensates: it refunds, releases the stock and tells
    the customer.
    """

    process_title = _("Order to cash")  # the docstring's first line, translatable

    process_class = OrderProcess
    # Not viewflow's lock.select_for_update_lock: it retries in an aborted savepoint (locks.py).
    lock_impl = locks.select_for_update_lock
    process_summary_template = "{{ process.customer_name }}: {{ process.total }} {{ process.currency }}"

    # -- entry: the portal form, or an external system through the API (a StartHandle)
    start = (
        nodes.Start(views.OrderStartView.as_view())
        .Annotation(title=_("New order"))
        .Permission("orders.start_order")
        .Next(this.authorize_payment)
    )
    start_api = (
        flow.StartHandle(this.start_from_api)
        .Annotation(title=_("Order received"))
        .Next(this.authorize_payment)
    )

    # -- the happy path
    authorize_payment = (
        CeleryJob(this.payment_authorize, retry=PAYMENT_RETRY, time_limit=30)
        .Annotation(title=_("Authorize payment"))
        .CompensateWith(this.void_authorization)
        .OnError(this.compensate)
        .Next(this.check_fraud)
    )
    check_fraud = CeleryJob(this.fraud_check).Annotation(title=_("Check for fraud")).Next(this.fraud_gate)
    fraud_gate = nodes.If(this.needs_review).Then(this.review_fraud).Else(this.capture_payment)
    # Its boundary, by name: review_fraud__timeout (the reminder at the due time). Armed timers
    # store the name, which comes from the declaration order: only ever append new boundaries.
    # Non-interrupting: the review stays where it is.
    review_fraud = (
        DeadlineView(views.FraudReviewView.as_view())
        .Annotation(
            title=_("Review suspected fraud"),
            summary_template="{{ process.customer_name }}: {{ process.total }} {{ process.currency }}, score {{ process.fraud_score }}",
        )
        .Permission("orders.review_fraud")
        .OnTimeout(review_due, this.remind_review, interrupting=False, title=_("Reminder"))
        .Next(this.fraud_decision)
    )
    # The reminder's path ends here (no next step: the review goes on).
    remind_review = nodes.Function(this.review_remind).Annotation(title=_("Remind"))
    fraud_decision = nodes.If(act.process.fraud_cleared).Then(this.capture_payment).Else(this.cancel_order)
    capture_payment = (
        CeleryJob(this.payment_capture, retry=PAYMENT_RETRY, time_limit=30)
        .Annotation(title=_("Capture payment"))
        .CompensateWith(this.refund_payment)
        .OnError(this.compensate)
        .Next(this.reserve_inventory)
    )
    reserve_inventory = (
        CeleryJob(this.inventory_reserve)
        .Annotation(title=_("Reserve inventory"))
        .CompensateWith(this.release_inventory)
        .OnError(this.compensate)
        .Next(this.calculate_shipping)
    )
    calculate_shipping = (
        CeleryJob(this.shipping_calculate)
        .Annotation(title=_("Calculate shipping"))
        .OnError(this.compensate)
        .Next(this.send_confirmation)
    )
    send_confirmation = (
        CeleryJob(this.confirmation_send, retry=MAIL_RETRY)
        .Annotation(title=_("Send confirmation"))
        .Next(this.ship_order)
    )
    # -- shipping: book it, then wait for the carrier's signed "delivered" callback
    # (POST /api/v1/messages/). Its boundary, by name: await_delivery__timeout.
    ship_order = (
        CeleryJob(this.shipment_book, retry=PAYMENT_RETRY)
        .Annotation(title=_("Book shipment"))
        .Next(this.await_delivery)
    )
    await_delivery = (
        WaitMessage("shipment.delivered", correlation=order_ref_of)
        .Annotation(title=_("Wait for delivery"))
        .OnTimeout(delivery_timeout, this.chase_carrier, title=_("No delivery news"))
        .Next(this.record_delivery)
    )
    record_delivery = (
        nodes.Function(this.delivered).Annotation(title=_("Record delivery")).Next(this.completed)
    )
    completed = nodes.End().Annotation(title=_("Completed"))
    # -- no callback in time: a person asks the carrier
    chase_carrier = (
        flow.View(views.ChaseCarrierView.as_view())
        .Annotation(title=_("Chase the carrier"))
        .Permission("orders.chase_carrier")
        .Next(this.chase_result)
    )
    chase_result = (
        nodes.If(this.is_delivered).Annotation(title=_("Delivered?")).Then(this.completed).Else(this.lost)
    )
    lost = nodes.End().Annotation(title=_("Lost in transit"))

    # -- fraud confirmed
    cancel_order = CeleryJob(this.order_cancel).Annotation(title=_("Cancel order")).Next(this.canceled)
    canceled = nodes.End().Annotation(title=_("Canceled"))

    # -- compensation: undo the done steps (their .CompensateWith handlers), then tell the customer
    compensate = flow.CompensateThrow().Annotation(title=_("Compensate")).Next(this.notify_compensation)
    notify_compensation = (
        CeleryJob(this.compensation_notify, retry=MAIL_RETRY)
        .Annotation(title=_("Tell the customer"))
        .Next(this.compensated)
    )
    compensated = nodes.End().Annotation(title=_("Compensated"))
    refund_payment = (
        CeleryJob(this.payment_refund, retry=PAYMENT_RETRY)
        .Annotation(title=_("Refund payment"))
        .Next(this.refunded)
    )
    refunded = nodes.End().Annotation(title=_("Refunded"))
    release_inventory = (
        CeleryJob(this.inventory_release).Annotation(title=_("Release inventory")).Next(this.released)
    )
    released = nodes.End().Annotation(title=_("Stock released"))
    void_authorization = (
        CeleryJob(this.payment_void, retry=PAYMENT_RETRY)
        .Annotation(title=_("Void authorization"))
        .Next(this.voided)
    )
    voided = nodes.End().Annotation(title=_("Authorization voided"))

    # -- wiring to services (the flow stays declarative)
    def start_from_api(self, activation, data, starter=None) -> OrderProcess:
        return services.order_start_handle(activation, data, starter=starter)

    def needs_review(self, activation) -> bool:
        return services.order_needs_review(activation)

    def review_remind(self, activation) -> None:
        escalation_services.task_remind(task=deadline_path_host(activation))

    def payment_authorize(self, call: JobCall) -> None:
        services.order_payment_authorize(call)

    def fraud_check(self, call: JobCall) -> None:
        services.order_fraud_check(call)

    def payment_capture(self, call: JobCall) -> None:
        services.order_payment_capture(call)

    def inventory_reserve(self, call: JobCall) -> None:
        services.order_inventory_reserve(call)

    def shipping_calculate(self, call: JobCall) -> None:
        services.order_shipping_calculate(call)

    def confirmation_send(self, call: JobCall) -> None:
        services.order_confirmation_send(call)

    def shipment_book(self, call: JobCall) -> None:
        services.order_ship(call)

    def is_delivered(self, activation) -> bool:
        return activation.process.delivery == OrderProcess.Delivery.DELIVERED

    def delivered(self, activation) -> None:
        services.order_delivered(activation)

    def order_cancel(self, call: JobCall) -> None:
        services.order_cancel(call)

    def compensation_notify(self, call: JobCall) -> None:
        services.order_compensation_notify(call)

    def payment_refund(self, call: JobCall) -> None:
        services.order_payment_refund(call)

    def inventory_release(self, call: JobCall) -> None:
        services.order_inventory_release(call)

    def payment_void(self, call: JobCall) -> None:
        services.order_payment_void(call)
