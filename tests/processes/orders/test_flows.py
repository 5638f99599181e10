"""Order to cash, headless: every branch, with the worker's job runner driven step by step."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django import forms
from viewflow.workflow.models import Task
from viewflow.workflow.status import PROCESS, STATUS

from processes.connectors.models import (
    ConnectorFaults,
    PaymentOperation,
    Product,
    SentEmail,
    StockReservation,
)
from processes.messages.services import message_receive
from processes.models import AuditEvent
from processes.nodes import celery_job
from processes.nodes.celery_job import job_execute
from processes.orders.models import OrderPolicy, OrderProcess
from processes.orders.services import order_fraud_task_decide
from processes.selectors import process_stage_durations
from processes.services import task_claim, task_routing_changed
from processes.tasklist.models import TaskRow
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker():
    """Jobs are run here by calling the worker's entry point; nothing is published."""
    with mock.patch.object(celery_job, "job_send", return_value=True):
        yield


@pytest.fixture(autouse=True)
def _no_backoff_sleep():
    with mock.patch("processes.connectors.services.time.sleep"):
        yield


def run_jobs(process, limit: int = 60) -> list[tuple[str, str]]:
    """Deliver every scheduled job of `process` until none is left; returns (node, outcome) pairs."""
    ran = []
    for _ in range(limit):
        job = (
            Task.objects.filter(process=process, flow_task_type="JOB", status=STATUS.SCHEDULED)
            .order_by("pk")
            .first()
        )
        if job is None:
            return ran
        ran.append((job.flow_task.name, job_execute(job.flow_task.activation_class(job).ref())))
    raise AssertionError(f"jobs still scheduled after {limit} deliveries: {ran[-5:]}")


def _reloaded(process) -> OrderProcess:
    return OrderProcess.objects.get(pk=process.pk)


def test_a_clean_order_runs_to_completion(place_order):
    order = place_order(lines=[("DESK-01", 1), ("CHAIR-02", 2)])
    assert order.total == Decimal("877.00")

    ran = run_jobs(order)

    assert ran == [
        ("authorize_payment", "done"),
        ("check_fraud", "done"),
        ("capture_payment", "done"),
        ("reserve_inventory", "done"),
        ("calculate_shipping", "done"),
        ("send_confirmation", "done"),
        ("ship_order", "done"),
    ]
    order = _reloaded(order)
    assert task_of(order, "await_delivery").status == STATUS.SCHEDULED  # waits for the carrier
    message_receive(
        client=None,
        message_id="msg-1",
        name="shipment.delivered",
        correlation_key=order.order_ref,
        payload={},
    )
    order = _reloaded(order)
    assert order.status == PROCESS.DONE
    assert order.delivery == OrderProcess.Delivery.DELIVERED
    assert order.outcome == OrderProcess.Outcome.COMPLETED
    assert order.fraud_score <= order.fraud_threshold
    # The time per stage shows the wait for the carrier among the automated steps.
    assert "Wait for delivery" in [str(stage["name"]) for stage in process_stage_durations(order)]
    assert list(PaymentOperation.objects.values_list("kind", flat=True).order_by("pk")) == [
        "authorize",
        "capture",
    ]
    assert Product.objects.get(sku="CHAIR-02").on_hand == 8
    assert order.shipping_cost == Decimal("7.90")
    assert SentEmail.objects.get().subject == f"Order {order.order_ref} confirmed"


def test_a_suspicious_order_waits_for_the_fraud_group_and_can_be_released(
    place_order, roles, django_user_model
):
    fiona = django_user_model.objects.create_user("fiona", password="x")
    fiona.groups.add(roles["fraud"])
    order = place_order(email="someone@mailinator.com")

    run_jobs(order)

    review = task_of(order, "review_fraud")
    assert review.status == STATUS.NEW
    assert _reloaded(order).fraud_score > OrderPolicy.current().fraud_threshold
    assert not PaymentOperation.objects.filter(kind="capture").exists()  # nothing captured before the review

    task_claim(task=review, user=fiona)
    order_fraud_task_decide(task=review, user=fiona, cleared=True)
    run_jobs(order)

    order = _reloaded(order)
    assert order.outcome == OrderProcess.Outcome.COMPLETED
    assert AuditEvent.objects.filter(process=order, action="order.fraud_cleared", actor=fiona).exists()


def test_confirmed_fraud_cancels_the_order_and_voids_the_authorization(place_order, roles, django_user_model):
    fiona = django_user_model.objects.create_user("fiona", password="x")
    fiona.groups.add(roles["fraud"])
    order = place_order(email="someone@risky.example")
    run_jobs(order)
    review = task_of(order, "review_fraud")
    task_claim(task=review, user=fiona)

    with pytest.raises(ValueError, match="needs a comment"):
        order_fraud_task_decide(task=review, user=fiona, cleared=False)
    order_fraud_task_decide(task=review, user=fiona, cleared=False, comment="Stolen card pattern.")
    run_jobs(order)

    order = _reloaded(order)
    assert order.status == PROCESS.DONE
    assert order.outcome == OrderProcess.Outcome.CANCELED
    assert list(PaymentOperation.objects.values_list("kind", flat=True).order_by("pk")) == [
        "authorize",
        "void",
    ]


def _policy_set(**fields) -> None:
    """Edit the order policy as the admin does (validated, then saved)."""
    policy = OrderPolicy.current()
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()


def test_the_fraud_check_pins_the_review_sla_and_a_later_policy_edit_leaves_the_review_alone(place_order):
    _policy_set(fraud_review_sla=timedelta(hours=2))
    order = place_order(email="someone@mailinator.com")
    run_jobs(order)
    review = task_of(order, "review_fraud")
    due = review.created + timedelta(hours=2)
    (timer,) = Task.objects.filter(process=order, flow_task_type="TIMER")
    assert _reloaded(order).fraud_review_sla == timedelta(hours=2)
    assert TaskRow.objects.get(pk=review.pk).due_at == due
    assert (timer.flow_task.name, timer.status, timer.scheduled) == (
        "review_fraud__timeout",
        STATUS.SCHEDULED,
        due,
    )

    _policy_set(fraud_review_sla=timedelta(minutes=30), fraud_threshold=75)
    task_routing_changed(task=review)  # the row is recomputed from the order, as escalation does

    order = _reloaded(order)
    assert (order.fraud_review_sla, order.fraud_threshold) == (timedelta(hours=2), 70)
    assert TaskRow.objects.get(pk=review.pk).due_at == due
    timer.refresh_from_db()
    assert timer.scheduled == due

    later = place_order(email="someone.else@risky.example")  # score 79: still above 75
    run_jobs(later)
    later = _reloaded(later)
    assert (later.fraud_review_sla, later.fraud_threshold) == (timedelta(minutes=30), 75)
    later_review = task_of(later, "review_fraud")
    assert TaskRow.objects.get(pk=later_review.pk).due_at == later_review.created + timedelta(minutes=30)


def test_refused_stock_after_capture_is_compensated_by_a_refund(place_order):
    order = place_order(lines=[("DESK-01", 1), ("LAMP-03", 1)])  # the lamp is out of stock

    ran = run_jobs(order)

    assert ("reserve_inventory", "failed") in ran  # a refusal is not retried
    order = _reloaded(order)
    assert order.status == PROCESS.DONE
    assert order.outcome == OrderProcess.Outcome.COMPENSATED
    kinds = list(PaymentOperation.objects.values_list("kind", flat=True).order_by("pk"))
    assert kinds.count("capture") == 1
    assert kinds.count("refund") == 1
    assert Product.objects.get(sku="DESK-01").on_hand == 10  # all-or-nothing: nothing was taken
    assert SentEmail.objects.get().subject == f"Order {order.order_ref} could not be completed"
    assert task_of(order, "compensated").status == STATUS.DONE
    assert task_of(order, "refunded").status == STATUS.DONE
    assert AuditEvent.objects.filter(process=order, action="order.refunded").exists()


def test_a_failure_after_the_reservation_also_releases_the_stock(place_order):
    order = place_order(lines=[("CHAIR-02", 3)])
    ConnectorFaults.objects.create(connector="shipping", error_rate=1.0)

    run_jobs(order)

    order = _reloaded(order)
    assert order.outcome == OrderProcess.Outcome.COMPENSATED
    assert Product.objects.get(sku="CHAIR-02").on_hand == 10
    assert StockReservation.objects.get().status == StockReservation.Status.RELEASED
    shipping = task_of(order, "calculate_shipping")
    assert shipping.status == STATUS.CANCELED  # interrupted by its error boundary
    assert len(shipping.data["attempts"]) == shipping.flow_task.retry_policy.max_attempts


def test_a_payment_gateway_refusing_three_calls_succeeds_on_the_fourth_attempt(place_order):
    ConnectorFaults.objects.create(connector="payment", refuse_next=3)
    order = place_order()

    ran = run_jobs(order)

    assert ran[:4] == [("authorize_payment", "retry")] * 3 + [("authorize_payment", "done")]
    authorize = task_of(order, "authorize_payment")
    assert [a["outcome"] for a in authorize.data["attempts"]] == ["failed", "failed", "failed", "done"]
    assert AuditEvent.objects.filter(task=authorize, action="job.attempt_failed").count() == 3
    assert PaymentOperation.objects.filter(kind="authorize").count() == 1
    assert _reloaded(order).outcome == OrderProcess.Outcome.COMPLETED


def test_a_lost_answer_is_retried_without_charging_twice(place_order):
    """The gateway captured, but its answer timed out: the retry gets the first capture back."""
    order = place_order()
    faults = ConnectorFaults.objects.create(connector="payment", timeout_rate=1.0, timeout_seconds=1)
    authorize = task_of(order, "authorize_payment")
    assert job_execute(authorize.flow_task.activation_class(authorize).ref()) == "retry"  # done, answer lost
    assert PaymentOperation.objects.filter(kind="authorize").count() == 1
    faults.timeout_rate = 0
    faults.save()

    run_jobs(order)

    assert PaymentOperation.objects.filter(kind="authorize").count() == 1
    assert PaymentOperation.objects.filter(kind="capture").count() == 1
    assert _reloaded(order).outcome == OrderProcess.Outcome.COMPLETED


def test_bad_orders_are_refused_with_the_reason(place_order):
    with pytest.raises(forms.ValidationError, match="Unknown SKU: NOPE-9"):
        place_order(lines=[("NOPE-9", 1)])
    with pytest.raises(forms.ValidationError, match="customer_email"):
        place_order(email="not-an-email")
    assert not OrderProcess.objects.exists()
