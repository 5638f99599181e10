"""Order to cash end to end with a real worker on PostgreSQL and Redis, including its faults."""

from __future__ import annotations

import time

import pytest
from django.urls import get_resolver
from viewflow.workflow.models import Task
from viewflow.workflow.status import PROCESS, STATUS

from processes import scheduler
from processes.connectors.models import ConnectorFaults, PaymentOperation, SentEmail
from processes.models import AuditEvent
from processes.orders.models import OrderProcess
from processes.orders.services import order_fraud_task_decide
from processes.services import task_claim
from tests.conftest import task_of
from tests.stack import PrivateRedis, PrivateVhost, publisher, start_worker, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _carrier_calls_back(carrier):
    """Shipped orders end with the fake carrier's signed callback to the live server."""


def _order(order) -> OrderProcess:
    return OrderProcess.objects.get(pk=order.pk)


def _settled(order) -> bool:
    return _order(order).status == PROCESS.DONE


def _captures(order) -> int:
    return PaymentOperation.objects.filter(order_ref=_order(order).order_ref, kind="capture").count()


def test_happy_path(celery_worker_process, place_order):
    order = place_order(lines=[("DESK-01", 1)])

    wait_for(lambda: _settled(order), timeout=60, what="the order to complete")

    assert _order(order).outcome == OrderProcess.Outcome.COMPLETED
    assert _captures(order) == 1
    assert SentEmail.objects.filter(subject__contains="confirmed").count() == 1


def test_fraud_review_path(celery_worker_process, place_order, roles, django_user_model):
    fiona = django_user_model.objects.create_user("fiona", password="x")
    fiona.groups.add(roles["fraud"])
    order = place_order(email="mallory@mailinator.com")

    review = wait_for(
        lambda: Task.objects.filter(
            process=order, flow_task=order.flow_class.review_fraud, status=STATUS.NEW
        ).first(),
        timeout=60,
        what="the fraud review task",
    )
    assert _captures(order) == 0
    task_claim(task=review, user=fiona)
    order_fraud_task_decide(task=review, user=fiona, cleared=True)

    wait_for(lambda: _settled(order), timeout=60, what="the reviewed order to complete")
    assert _order(order).outcome == OrderProcess.Outcome.COMPLETED


def test_compensation_path(celery_worker_process, place_order):
    order = place_order(lines=[("DESK-01", 1), ("LAMP-03", 1)])  # the lamp is out of stock

    wait_for(lambda: _settled(order), timeout=60, what="the compensation to finish")

    assert _order(order).outcome == OrderProcess.Outcome.COMPENSATED
    kinds = list(
        PaymentOperation.objects.filter(order_ref=_order(order).order_ref).values_list("kind", flat=True)
    )
    assert sorted(kinds) == ["authorize", "capture", "refund"]
    assert SentEmail.objects.filter(subject__contains="could not be completed").count() == 1


def test_three_refusals_then_success_with_the_attempts_recorded(celery_worker_process, place_order):
    ConnectorFaults.objects.create(connector="payment", refuse_next=3)
    order = place_order()

    wait_for(lambda: _settled(order), timeout=90, what="the order to complete after retries")

    authorize = task_of(order, "authorize_payment")
    assert [a["outcome"] for a in authorize.data["attempts"]] == ["failed", "failed", "failed", "done"]
    assert AuditEvent.objects.filter(task=authorize, action="job.attempt_failed").count() == 3
    assert PaymentOperation.objects.filter(kind="authorize").count() == 1


def test_an_always_failing_step_is_an_incident_retried_from_the_portal(
    celery_worker_process, place_order, client, maria
):
    assert get_resolver().url_patterns
    faults = ConnectorFaults.objects.create(connector="mailer", error_rate=1.0)
    order = place_order()

    confirmation = wait_for(
        lambda: Task.objects.filter(
            process=order, flow_task=order.flow_class.send_confirmation, status=STATUS.ERROR
        ).first(),
        timeout=90,
        what="the confirmation step to become an incident",
    )
    assert len(confirmation.data["attempts"]) == confirmation.flow_task.retry_policy.max_attempts

    faults.error_rate = 0  # the mail server is back
    faults.save()
    client.force_login(maria)
    assert (
        client.post(
            f"/operations/incidents/{confirmation.pk}/retry/", {"reason": "Mail server is back."}
        ).status_code
        == 302
    )

    wait_for(lambda: _settled(order), timeout=60, what="the retried step to finish the order")
    assert _order(order).outcome == OrderProcess.Outcome.COMPLETED
    assert SentEmail.objects.filter(subject__contains="confirmed").count() == 1
    assert AuditEvent.objects.filter(task=confirmation, action="incident.retried", actor=maria).exists()


@pytest.fixture(params=["redis", "amqp", "sqlite"])
def broker_and_worker(request, stack_env, tmp_path):
    """A dedicated, killable worker on each broker: Redis (a private server), RabbitMQ (a private
    virtual host) or the embedded SQLite one."""
    broker = vhost = None
    if request.param == "redis":
        broker = PrivateRedis()
        broker.start()
        url = broker.url
    elif request.param == "amqp":
        vhost = PrivateVhost()
        url = vhost.url
    else:
        url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    worker = start_worker(f"worker-{request.param}", {**stack_env, "CELERY_BROKER_URL": url})
    with publisher(url):
        yield worker
    worker.stop()
    if broker is not None:
        broker.stop()
    if vhost is not None:
        vhost.delete()


def test_a_worker_killed_mid_capture_recovers_with_exactly_one_capture(broker_and_worker, place_order):
    """SIGKILL while the gateway has captured but not answered. The capture ran inline in the
    chain of the order's first message, so the scheduler's sweep (run here as beat would) re-sends
    it once its attempt outlived the time limit. The SQLite broker never redelivers that first
    message and Redis would only after its visibility timeout; RabbitMQ redelivers it as soon as
    the worker's connection drops, and it finds its job DONE. Exactly one capture still holds."""
    worker = broker_and_worker
    ConnectorFaults.objects.create(connector="payment", latency_ms=4000)
    order = place_order()

    def capturing() -> bool:
        capture = Task.objects.filter(process=order, flow_task=order.flow_class.capture_payment).first()
        return capture is not None and capture.status == STATUS.STARTED and _captures(order) == 1

    wait_for(capturing, timeout=60, what="the capture to be recorded while its answer is pending")
    # The capture runs inline, next in the chain of the worker that checked for fraud (ADR 0025):
    # no message of its own, so only the sweep can bring it back.
    capture = task_of(order, "capture_payment")
    ref = capture.flow_task.activation_class(capture).ref()
    assert any("job.enqueued_inline" in line and ref in line for line in worker.output().splitlines())
    worker.kill()
    ConnectorFaults.objects.filter(connector="payment").update(latency_ms=0)
    worker.restart(lambda: worker.output().count(" ready.") >= 2, "the new worker")

    # The sweep re-sends the capture ~95 s on (its time limit plus this process's grace); then
    # the order still books its shipment and waits for the carrier's callback.
    deadline = time.monotonic() + 180
    while not _settled(order):
        assert time.monotonic() < deadline, "the order did not recover after the worker was killed"
        scheduler.jobs_sweep_stuck()
        time.sleep(2)

    assert _order(order).outcome == OrderProcess.Outcome.COMPLETED
    assert _captures(order) == 1
    capture = task_of(order, "capture_payment")
    assert [a["outcome"] for a in capture.data["attempts"]] == ["lost", "done"]


def test_a_hung_call_hits_the_time_limit_and_becomes_a_failed_attempt(stack_env, place_order):
    """Steps without their own limit get JOB_DEFAULT_TIME_LIMIT (2 s for this worker): a shipping
    call that hangs is cut off by the soft limit, recorded as a failed attempt, and retried."""
    broker = PrivateRedis()
    broker.start()
    url = broker.url
    worker = start_worker(
        "worker-timelimit", {**stack_env, "CELERY_BROKER_URL": url, "JOB_DEFAULT_TIME_LIMIT": "2"}
    )
    try:
        ConnectorFaults.objects.create(connector="shipping", latency_ms=6000)
        with publisher(url):
            order = place_order()

        def first_attempt_failed() -> bool:
            shipping = Task.objects.filter(
                process=order, flow_task=order.flow_class.calculate_shipping
            ).first()
            return bool(
                shipping and any(a.get("outcome") == "failed" for a in shipping.data.get("attempts", []))
            )

        wait_for(first_attempt_failed, timeout=60, what="the time limit to cut the hung call")
        ConnectorFaults.objects.filter(connector="shipping").update(latency_ms=0)
        wait_for(lambda: _settled(order), timeout=60, what="the retried step to finish the order")
    finally:
        worker.stop()
        broker.stop()

    attempts = task_of(order, "calculate_shipping").data["attempts"]
    assert "SoftTimeLimitExceeded" in attempts[0]["error"]
    assert attempts[0]["duration_s"] < 4  # cut at about 2 s, not after the 6 s hang
    assert attempts[-1]["outcome"] == "done"
    assert _order(order).outcome == OrderProcess.Outcome.COMPLETED
