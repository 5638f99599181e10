"""POST /api/v1/messages/ and the wait node: validation, each refusal, kept and consumed messages."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from unittest import mock

import pytest
from viewflow.workflow.models import Task
from viewflow.workflow.status import PROCESS, STATUS

from processes.api.keys import signing_key_rotate, signing_keys_for_sending
from processes.api.signing import headers_sign
from processes.messages.models import MessageSubscription, ReceivedMessage
from processes.messages.services import messages_sweep
from processes.models import AuditEvent
from processes.nodes import celery_job
from processes.nodes.celery_job import job_execute
from processes.orders.models import OrderProcess
from processes.scheduler import timers_fire
from processes.selectors import process_history
from tests.conftest import task_of
from tests.processes.api.conftest import bearer
from tests.processes.api.test_endpoints import assert_problem

pytestmark = pytest.mark.django_db

URL = "/api/v1/messages/"


@pytest.fixture(autouse=True)
def _no_broker():
    with mock.patch.object(celery_job, "job_send", return_value=True):
        yield


@pytest.fixture
def carrier(make_client):
    client, token = make_client("carrier", ["webhooks:receive"])
    signing_key_rotate(client=client)
    return client, token


def send(
    carrier, body: dict | bytes, *, msg_id: str = "msg_1", timestamp: int | None = None, sign=True, **extra
):
    client, token = carrier
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {}
    if sign:
        signed = headers_sign(signing_keys_for_sending(client), msg_id, raw, timestamp=timestamp)
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in signed.items()}
    return bearer(token).post(URL, raw, content_type="application/json", **headers, **extra)


def delivered(ref: str, **payload) -> dict:
    return {"name": "shipment.delivered", "correlation_key": ref, "payload": payload}


def shipped_order(place_order) -> OrderProcess:
    """An order run through its jobs up to the wait for the carrier."""
    order = place_order()
    for _ in range(20):
        job = Task.objects.filter(process=order, flow_task_type="JOB", status=STATUS.SCHEDULED).first()
        if job is None:
            break
        job_execute(job.flow_task.activation_class(job).ref())
    assert task_of(order, "await_delivery").status == STATUS.SCHEDULED
    return OrderProcess.objects.get(pk=order.pk)


# ---------------------------------------------------------------- refusals


def test_no_token_or_the_wrong_scope_is_refused(db, make_client):
    from django.test import Client

    assert_problem(Client().post(URL, b"{}", content_type="application/json"), 401, "not-authenticated")
    _client, token = make_client("reader", ["processes:read"])
    assert_problem(bearer(token).post(URL, b"{}", content_type="application/json"), 403, "forbidden")


def test_unsigned_stale_and_wrongly_signed_messages_have_their_own_problem_types(carrier, make_client):
    body = delivered("ORD-000001")
    assert_problem(send(carrier, body, sign=False), 400, "signature-missing")
    assert_problem(send(carrier, body, timestamp=int(time.time()) - 600), 401, "signature-stale")
    other, _ = make_client("other", ["webhooks:receive"])
    signing_key_rotate(client=other)
    raw = json.dumps(body).encode()
    signed = headers_sign(signing_keys_for_sending(other), "msg_x", raw)  # another client's key
    response = bearer(carrier[1]).post(
        URL,
        raw,
        content_type="application/json",
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in signed.items()},
    )
    assert_problem(response, 401, "signature-invalid")
    assert not ReceivedMessage.objects.exists()


def test_a_body_that_is_not_a_message_is_a_422(carrier):
    assert_problem(send(carrier, b"not json"), 422, "validation")
    assert_problem(send(carrier, {"name": "shipment.delivered"}, msg_id="m2"), 422, "validation")
    assert_problem(send(carrier, {**delivered("R"), "extra": 1}, msg_id="m3"), 422, "validation")
    assert_problem(send(carrier, delivered(""), msg_id="m4"), 422, "validation")
    assert_problem(send(carrier, {"name": 5, "correlation_key": "R"}, msg_id="m5"), 422, "validation")


def test_a_message_no_flow_waits_for_is_a_422(carrier):
    body = assert_problem(
        send(carrier, {"name": "invoice.paid", "correlation_key": "X"}), 422, "message-unknown"
    )
    assert "invoice.paid" in body["detail"]


def test_a_replayed_id_is_refused(carrier):
    assert send(carrier, delivered("ORD-000001")).status_code == 202
    assert_problem(send(carrier, delivered("ORD-000001")), 409, "message-replayed")
    assert_problem(send(carrier, delivered("ORD-000002")), 409, "message-replayed")  # the id counts
    assert ReceivedMessage.objects.count() == 1


# ---------------------------------------------------------------- kept and consumed


def test_an_idempotency_key_replays_the_first_answer_to_a_resent_message(carrier):
    """A sender that lost the answer may re-sign the same message (a new webhook-id) and retry
    with its Idempotency-Key: it gets the first answer, and nothing is received twice."""
    body = delivered("ORD-000123")
    first = send(carrier, body, msg_id="msg_a", HTTP_IDEMPOTENCY_KEY="delivery-123")
    again = send(carrier, body, msg_id="msg_b", HTTP_IDEMPOTENCY_KEY="delivery-123")
    other = send(carrier, delivered("ORD-000124"), msg_id="msg_c", HTTP_IDEMPOTENCY_KEY="delivery-123")

    assert first.status_code == 202
    assert (again.status_code, again.json()) == (202, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert_problem(other, 422, "idempotency-key-reused")
    assert ReceivedMessage.objects.count() == 1


def test_a_message_for_a_waiting_order_resumes_it_once(carrier, place_order):
    order = shipped_order(place_order)

    response = send(carrier, delivered(order.order_ref, shipment="SHP-1"))

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "consumed"
    assert response.json()["process_id"] == order.pk
    order.refresh_from_db()
    assert order.status == PROCESS.DONE
    assert order.delivery == OrderProcess.Delivery.DELIVERED
    wait = task_of(order, "await_delivery")
    assert wait.status == STATUS.DONE
    assert wait.data["message"]["id"] == "msg_1"
    assert task_of(order, "await_delivery__timeout").status == STATUS.CANCELED
    consumed = AuditEvent.objects.get(action="message.consumed")
    assert consumed.correlation_id == str(order.correlation_id)
    assert consumed.details["message_id"] == "msg_1"
    completed = AuditEvent.objects.get(task=wait, action="task.completed")
    assert completed.details["message_id"] == "msg_1"
    history = {row["what"]: row["detail"] for row in process_history(order)}
    assert history["Message received"] == "shipment.delivered msg_1 from carrier"
    # A second delivery of the same event under another id is kept, and changes nothing.
    assert send(carrier, delivered(order.order_ref), msg_id="msg_2").status_code == 202
    assert Task.objects.filter(process=order, flow_task=order.flow_class.record_delivery).count() == 1


def test_an_early_message_is_kept_and_consumed_when_the_wait_arms(carrier, place_order):
    order = place_order()
    response = send(carrier, delivered(order.order_ref))
    assert response.status_code == 202
    assert response.json()["status"] == "kept"
    assert AuditEvent.objects.filter(action="message.accepted").count() == 1

    for _ in range(20):
        job = Task.objects.filter(process=order, flow_task_type="JOB", status=STATUS.SCHEDULED).first()
        if job is None:
            break
        job_execute(job.flow_task.activation_class(job).ref())

    order = OrderProcess.objects.get(pk=order.pk)
    assert order.status == PROCESS.DONE  # the wait took the kept message at once
    message = ReceivedMessage.objects.get()
    assert message.status == ReceivedMessage.Status.CONSUMED
    assert message.consumed_by_id == task_of(order, "await_delivery").pk


def test_a_kept_message_for_an_unknown_correlation_expires_by_the_sweep(carrier, settings):
    settings.API_MESSAGE_TTL = 60
    assert send(carrier, delivered("ORD-999999")).status_code == 202
    message = ReceivedMessage.objects.get()

    assert messages_sweep()["expired"] == 0
    later = message.expires_at + timedelta(seconds=1)
    assert messages_sweep(now=later)["expired"] == 1
    message.refresh_from_db()
    assert message.status == ReceivedMessage.Status.EXPIRED
    assert AuditEvent.objects.filter(action="message.expired").count() == 1
    # Its id is still refused until the replay window and its time to live have passed; then deleted.
    assert_problem(send(carrier, delivered("ORD-999999")), 409, "message-replayed")
    assert messages_sweep(now=later + timedelta(hours=2))["deleted"] == 1


def test_the_timeout_cancels_the_wait_and_a_late_message_is_kept(carrier, place_order):
    order = shipped_order(place_order)
    timer = task_of(order, "await_delivery__timeout")
    assert timer.status == STATUS.SCHEDULED
    assert MessageSubscription.objects.filter(task=task_of(order, "await_delivery")).exists()

    assert timers_fire(task_ids=[timer.pk]) == 1

    assert task_of(order, "await_delivery").status == STATUS.CANCELED
    chase = task_of(order, "chase_carrier")
    assert chase.status == STATUS.NEW
    response = send(carrier, delivered(order.order_ref))
    assert response.status_code == 202  # nothing waits any more: kept, the process untouched
    assert task_of(order, "chase_carrier").status == STATUS.NEW


def test_the_chased_carrier_decides_the_order(place_order, roles, django_user_model):
    from processes.orders.services import order_chase_task_decide
    from processes.services import task_claim

    sam = django_user_model.objects.create_user("sam", password="x")
    sam.groups.add(roles["sales"])
    order = shipped_order(place_order)
    timers_fire(task_ids=[task_of(order, "await_delivery__timeout").pk])
    chase = task_of(order, "chase_carrier")
    task_claim(task=chase, user=sam)

    with pytest.raises(ValueError, match="needs a comment"):
        order_chase_task_decide(task=chase, user=sam, delivered=False)
    order_chase_task_decide(task=chase, user=sam, delivered=False, comment="Carrier lost it.")

    order = OrderProcess.objects.get(pk=order.pk)
    assert order.status == PROCESS.DONE
    assert (order.delivery, order.outcome) == ("lost", "lost")
    assert task_of(order, "lost").status == STATUS.DONE


def test_the_wait_node_rejects_bad_declarations():
    from processes.nodes.wait_message import WaitMessage

    with pytest.raises(ValueError, match="message name"):
        WaitMessage("", correlation=lambda p: "x")
    with pytest.raises(TypeError, match="callable"):
        WaitMessage("a.b", correlation="order_ref")
    node = WaitMessage("a.b", correlation=lambda p: "")
    node.name = "wait"
    with pytest.raises(ValueError, match="correlation key"):
        node.correlation_key(object())


def test_the_schema_documents_the_endpoint(db):
    from django.test import Client

    schema = Client().get("/api/openapi.json").json()
    operation = schema["paths"]["/api/v1/messages/"]["post"]
    assert {p["name"] for p in operation["parameters"]} >= {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
    assert "correlation_key" in json.dumps(operation["requestBody"])


def test_a_failure_after_the_wait_is_an_incident_and_the_message_stays_consumed(carrier, place_order):
    order = shipped_order(place_order)

    with mock.patch("processes.orders.services.order_delivered", side_effect=RuntimeError("boom")):
        response = send(carrier, delivered(order.order_ref))

    assert response.status_code == 200, response.content
    assert task_of(order, "await_delivery").status == STATUS.DONE
    assert task_of(order, "record_delivery").status == STATUS.ERROR
    assert ReceivedMessage.objects.get().status == ReceivedMessage.Status.CONSUMED
