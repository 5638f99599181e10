"""Signed callbacks against a live server and a real worker on PostgreSQL (issue 14, wait node).

Every message here goes over HTTP to uvicorn's /api/v1/messages/, signed like a carrier signs it;
the orders run in the session's Celery worker, whose fake carrier posts its own callbacks.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from viewflow.workflow.models import Task
from viewflow.workflow.status import PROCESS, STATUS

from processes import scheduler
from processes.api.keys import signing_keys_for_sending
from processes.api.signing import headers_sign
from processes.connectors.models import ConnectorFaults, Shipment
from processes.messages.models import ReceivedMessage
from processes.models import AuditEvent
from processes.orders.models import OrderProcess
from processes.orders.services import order_fraud_task_decide
from processes.services import task_claim
from processes.tasks import messages_sweep
from tests.conftest import task_of
from tests.stack import wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PROBLEMS = "https://approvals-portal.example/problems/"


def post(url: str, carrier, body: dict, *, msg_id: str, timestamp: int | None = None, keys=None):
    """POST a signed message; (status, JSON body)."""
    client, token = carrier
    raw = json.dumps(body).encode()
    headers = headers_sign(keys or signing_keys_for_sending(client), msg_id, raw, timestamp=timestamp)
    headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    request = urllib.request.Request(  # noqa: S310 - the test's own server
        f"{url}/api/v1/messages/", data=raw, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the test's server
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def delivered(ref: str) -> dict:
    return {"name": "shipment.delivered", "correlation_key": ref, "payload": {"by": "test"}}


def _order(order) -> OrderProcess:
    return OrderProcess.objects.get(pk=order.pk)


def waiting(order, timeout: float = 60) -> Task:
    return wait_for(
        lambda: Task.objects.filter(
            process=order, flow_task=order.flow_class.await_delivery, status=STATUS.SCHEDULED
        ).first(),
        timeout=timeout,
        what="the order to wait for its delivery",
    )


@pytest.fixture
def no_callbacks(db):
    """The carrier drops every callback (admin: connector faults)."""
    ConnectorFaults.objects.update_or_create(connector="shipping", defaults={"callback_drop_rate": 1.0})


def test_wrongly_signed_stale_and_replayed_callbacks_are_refused(live_server_url, carrier):
    body = delivered("ORD-424242")

    status, problem = post(live_server_url, carrier, body, msg_id="m1", keys=[b"x" * 32])
    assert (status, problem["type"]) == (401, PROBLEMS + "signature-invalid")
    status, problem = post(live_server_url, carrier, body, msg_id="m1", timestamp=int(time.time()) - 400)
    assert (status, problem["type"]) == (401, PROBLEMS + "signature-stale")
    assert not ReceivedMessage.objects.exists()

    assert post(live_server_url, carrier, body, msg_id="m1")[0] == 202
    status, problem = post(live_server_url, carrier, body, msg_id="m1")
    assert (status, problem["type"]) == (409, PROBLEMS + "message-replayed")
    assert ReceivedMessage.objects.count() == 1


def test_concurrent_replays_of_one_id_store_it_once(live_server_url, carrier):
    body = delivered("ORD-434343")
    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(
            pool.map(lambda _: post(live_server_url, carrier, body, msg_id="same")[0], range(8))
        )

    assert statuses == [202] + [409] * 7
    assert ReceivedMessage.objects.filter(message_id="same").count() == 1


def test_a_callback_for_an_unknown_correlation_is_kept_then_expired_by_the_sweep(
    live_server_url, carrier, celery_worker_process
):
    status, answer = post(live_server_url, carrier, delivered("ORD-999999"), msg_id="lost-1")
    assert (status, answer["status"]) == (202, "kept")
    message = ReceivedMessage.objects.get()
    ReceivedMessage.objects.filter(pk=message.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    messages_sweep.delay()  # what beat sends

    wait_for(
        lambda: ReceivedMessage.objects.get(pk=message.pk).status == ReceivedMessage.Status.EXPIRED,
        timeout=30,
        what="the sweep to expire the kept message",
    )
    assert AuditEvent.objects.filter(action="message.expired", details__message_id="lost-1").exists()


def test_an_early_callback_is_kept_and_consumed_when_the_step_arms(
    live_server_url, carrier, celery_worker_process, place_order, roles, django_user_model, no_callbacks
):
    fiona = django_user_model.objects.create_user("fiona", password="x")
    fiona.groups.add(roles["fraud"])
    order = place_order(email="mallory@mailinator.com")  # waits in fraud review, not shipped yet
    review = wait_for(
        lambda: Task.objects.filter(process=order, flow_task=order.flow_class.review_fraud).first(),
        timeout=60,
        what="the fraud review",
    )

    status, answer = post(live_server_url, carrier, delivered(_order(order).order_ref), msg_id="early-1")
    assert (status, answer["status"]) == (202, "kept")

    task_claim(task=review, user=fiona)
    order_fraud_task_decide(task=review, user=fiona, cleared=True)

    wait_for(lambda: _order(order).status == PROCESS.DONE, timeout=90, what="the order to finish")
    message = ReceivedMessage.objects.get(message_id="early-1")
    assert message.status == ReceivedMessage.Status.CONSUMED
    assert message.consumed_by_id == task_of(order, "await_delivery").pk
    assert _order(order).delivery == OrderProcess.Delivery.DELIVERED


def test_the_fake_carriers_signed_callback_ends_the_order(celery_worker_process, carrier, place_order):
    order = place_order()

    wait_for(lambda: _order(order).status == PROCESS.DONE, timeout=90, what="the carrier's callback")

    order = _order(order)
    assert order.delivery == OrderProcess.Delivery.DELIVERED
    shipment = Shipment.objects.get(order_ref=order.order_ref)
    assert shipment.status == Shipment.Status.DELIVERED
    message = ReceivedMessage.objects.get(message_id=f"msg_{shipment.reference}")
    assert (message.client_name, message.status) == ("carrier", ReceivedMessage.Status.CONSUMED)
    consumed = AuditEvent.objects.get(action="message.consumed", process=order)
    assert consumed.correlation_id == str(order.correlation_id)


def test_a_dropped_callback_times_out_into_a_person_chasing_the_carrier(
    celery_worker_process, carrier, place_order, no_callbacks
):
    order = place_order()
    wait = waiting(order)
    timer = Task.objects.get(previous=wait, flow_task_type="TIMER")
    Task.objects.filter(pk=timer.pk).update(scheduled=timezone.now())  # as an admin expedites it

    scheduler.timers_fire_due()  # what beat sends: the worker fires it

    chase = wait_for(
        lambda: Task.objects.filter(process=order, flow_task=order.flow_class.chase_carrier).first(),
        timeout=30,
        what="the chase task",
    )
    assert chase.status == STATUS.NEW
    assert task_of(order, "await_delivery").status == STATUS.CANCELED
    assert Shipment.objects.get(order_ref=_order(order).order_ref).callback_dropped


def _fire(timer_pk: int, start: threading.Barrier) -> int:
    try:
        start.wait()
        return scheduler.timers_fire(task_ids=[timer_pk])
    finally:
        connection.close()


def _deliver(url: str, carrier, ref: str, msg_id: str, start: threading.Barrier) -> int:
    try:
        start.wait()
        return post(url, carrier, delivered(ref), msg_id=msg_id)[0]
    finally:
        connection.close()


def test_a_callback_racing_its_timeout_or_a_second_callback_resumes_the_order_once(
    live_server_url, celery_worker_process, carrier, place_order, no_callbacks
):
    orders = [place_order() for _ in range(4)]
    waits = [waiting(order) for order in orders]
    with ThreadPoolExecutor(12) as pool:
        futures = []
        for order, wait in zip(orders, waits, strict=True):
            ref = _order(order).order_ref
            timer = Task.objects.get(previous=wait, flow_task_type="TIMER")
            Task.objects.filter(pk=timer.pk).update(scheduled=timezone.now())
            start = threading.Barrier(3)
            futures.append(pool.submit(_fire, timer.pk, start))
            futures += [
                pool.submit(_deliver, live_server_url, carrier, ref, f"{ref}-{n}", start) for n in (1, 2)
            ]
        results = [future.result(timeout=60) for future in futures]

    assert all(status in (200, 202) for status in results[1::3] + results[2::3])
    for order in orders:
        order = _order(order)
        wait = task_of(order, "await_delivery")
        resumed = Task.objects.filter(process=order, flow_task=order.flow_class.record_delivery).count()
        chased = Task.objects.filter(process=order, flow_task=order.flow_class.chase_carrier).count()
        consumed = ReceivedMessage.objects.filter(
            correlation_key=order.order_ref, status=ReceivedMessage.Status.CONSUMED
        ).count()
        assert resumed + chased == 1, (wait.status, resumed, chased)
        assert consumed == resumed
        assert wait.status == (STATUS.DONE if resumed else STATUS.CANCELED)
        assert ReceivedMessage.objects.filter(correlation_key=order.order_ref).count() == 2
