"""The fraud review's reminder: armed at the SLA pinned on its order, fired by the timer sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.utils import timezone
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.models import AuditEvent, Notification, NotificationKind
from processes.nodes import celery_job
from processes.orders.models import OrderPolicy, OrderProcess
from processes.orders.services import order_fraud_task_decide
from processes.scheduler import timers_fire_due
from processes.selectors import process_history
from processes.services import task_claim
from processes.tasklist.models import TaskRow
from tests.conftest import _persona, fraud_review_of, task_of

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SLA = timedelta(hours=4)  # the order policy's default


@pytest.fixture(autouse=True)
def sweep_in_process(monkeypatch):
    """The sweep's batches run right here (eager Celery), with no marker left by another test."""
    from django.core.cache import cache

    from portal.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    cache.clear()


@pytest.fixture(autouse=True)
def _no_broker():
    """The order's jobs are run here by calling the worker's entry point; nothing is published."""
    with mock.patch.object(celery_job, "job_send", return_value=True):
        yield


@pytest.fixture
def fiona(roles):
    return _persona("fiona", ["fraud"], roles)


@pytest.fixture
def felix(roles):
    """A second fraud analyst, who shares fiona's queue."""
    return _persona("felix", ["fraud"], roles)


def _review(place_order, email: str = "someone@mailinator.com"):
    """Place a suspicious order and run its jobs up to the fraud review; returns the review."""
    return fraud_review_of(place_order(email=email))


def _timers(task):
    return list(Task.objects.filter(process_id=task.process_id, flow_task_type="TIMER").order_by("pk"))


def _reminded(task):
    return list(AuditEvent.objects.filter(process_id=task.process_id, action="task.reminded").order_by("pk"))


def _reminders(task):
    return Notification.objects.filter(process_id=task.process_id, kind=NotificationKind.TASK_REMINDER)


def _fire_at(moment: datetime) -> None:
    with time_machine.travel(moment, tick=False):
        timers_fire_due()


def test_the_reminder_reaches_the_fraud_queue_at_the_due_time_and_not_before(place_order, fiona, felix):
    with time_machine.travel(T0, tick=False):
        review = _review(place_order)
    (timer,) = _timers(review)
    assert (timer.flow_task.name, timer.status, timer.scheduled) == (
        "review_fraud__timeout",
        STATUS.SCHEDULED,
        T0 + SLA,
    )
    assert TaskRow.objects.get(pk=review.pk).due_at == T0 + SLA  # what the task list shows

    _fire_at(T0 + SLA - timedelta(seconds=1))
    assert (_reminded(review), _reminders(review).count()) == ([], 0)

    _fire_at(T0 + SLA)

    (event,) = _reminded(review)
    assert (event.task_id, event.actor_id) == (review.pk, None)
    assert event.details == {"node": "review_fraud", "node_type": "HUMAN", "to": 2}
    assert sorted(_reminders(review).values_list("user__username", "title")) == [
        ("felix", "Reminder: Review suspected fraud"),
        ("fiona", "Reminder: Review suspected fraud"),
    ]
    review.refresh_from_db()
    assert (review.status, review.owner_id) == (STATUS.NEW, None)  # non-interrupting: still queued
    timer.refresh_from_db()
    assert timer.status == STATUS.DONE
    assert task_of(review.process, "remind_review").status == STATUS.DONE
    history = process_history(review.process)
    assert [(row["what"], row["step"]) for row in history if row["what"] == "Reminder sent"] == [
        ("Reminder sent", "Review suspected fraud")
    ]

    _fire_at(T0 + SLA + timedelta(hours=1))  # fired once only
    assert (len(_reminded(review)), _reminders(review).count()) == (1, 2)


def test_a_claimed_review_reminds_its_holder_only(place_order, fiona, felix):
    review = _review(place_order)
    task_claim(task=review, user=fiona)
    Task.objects.filter(pk=_timers(review)[0].pk).update(scheduled=timezone.now() - timedelta(seconds=1))

    assert timers_fire_due() == {"sent": 1}

    assert list(_reminders(review).values_list("user__username", flat=True)) == ["fiona"]
    (event,) = _reminded(review)
    assert event.details == {"node": "review_fraud", "node_type": "HUMAN", "to": 1}
    review.refresh_from_db()
    assert (review.status, review.owner_id) == (STATUS.ASSIGNED, fiona.pk)


def test_a_review_decided_in_time_is_never_reminded(place_order, fiona):
    review = _review(place_order)
    task_claim(task=review, user=fiona)

    order_fraud_task_decide(task=review, user=fiona, cleared=True)

    (timer,) = _timers(review)
    assert timer.status == STATUS.CANCELED
    Task.objects.filter(pk=timer.pk).update(scheduled=timezone.now() - timedelta(seconds=1))
    assert timers_fire_due() == {"sent": 0}
    assert (_reminded(review), _reminders(review).count()) == ([], 0)


def test_an_order_checked_before_reviews_had_an_sla_gets_no_due_time_and_no_reminder(place_order, fiona):
    # What the fraud check pinned before migration 0012: the threshold only.
    before = OrderPolicy(fraud_threshold=70, fraud_review_sla=None)
    with mock.patch.object(OrderPolicy, "current", return_value=before):
        review = _review(place_order)

    assert OrderProcess.objects.get(pk=review.process_id).fraud_review_sla is None
    assert review.status == STATUS.NEW
    assert _timers(review) == []
    assert TaskRow.objects.get(pk=review.pk).due_at is None
