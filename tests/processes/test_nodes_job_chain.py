"""A chain's next job runs in the worker that finished the one before (ADR 0025).

In-process, with real commits: the first job's message is what the broker would deliver, and
`job_run.apply_async` (the broker's edge) records what is published instead.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import time
from unittest import mock

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.models import AuditEvent
from processes.nodes import celery_job, job_chain
from processes.nodes.job_chain import HARD_LIMIT_MARGIN_SECONDS, attempt_limits, job_chain_run
from tests.conftest import log_events, task_of

pytestmark = pytest.mark.django_db(transaction=True)

CHAIN_STEPS = [
    "authorize_payment",
    "check_fraud",
    "capture_payment",
    "reserve_inventory",
    "calculate_shipping",
    "send_confirmation",
    "ship_order",
]


@pytest.fixture
def published():
    """What would go to the broker: (task id, Celery options) of every job message."""
    sent: list[tuple[str, dict]] = []

    def record(args, **options):
        sent.append((options["task_id"], options))

    with mock.patch("processes.tasks.job_run.apply_async", side_effect=record):
        yield sent


@pytest.fixture
def _carrier_quiet():
    with mock.patch("processes.tasks.carrier_callback.apply_async"):
        yield


def _deliver_first(order, published) -> str:
    """Deliver the order's first message as the worker does, with the limits it carries."""
    (task_id, options), *_ = published
    first = Task.objects.get(external_task_id=task_id)
    ref = first.flow_task.activation_class(first).ref()
    return job_chain_run(ref, message_id=task_id, soft_limit=options["soft_time_limit"])


@pytest.mark.usefixtures("_carrier_quiet")
def test_an_order_runs_its_seven_jobs_as_one_chain_from_one_message(place_order, published, caplog):
    with caplog.at_level(logging.INFO, logger="processes.nodes.celery_job"):
        order = place_order()
        assert len(published) == 1
        assert _deliver_first(order, published) == "done"

    assert len(published) == 1  # the other six never went through the broker
    assert len(log_events(caplog, "job.enqueued_inline")) == 6
    for step in CHAIN_STEPS:
        task = task_of(order, step)
        assert task.status == STATUS.DONE, step
        assert [a["outcome"] for a in task.data["attempts"]] == ["done"], step
    assert Task.objects.get(process=order, flow_task_type="WAIT").status == STATUS.SCHEDULED
    # Each step's start is audited, also when it began in the commit of the step before (fused).
    started = AuditEvent.objects.filter(process=order, action="task.started", task__flow_task_type="JOB")
    assert started.count() == len(CHAIN_STEPS)


@pytest.mark.usefixtures("_carrier_quiet")
def test_a_failed_step_compensates_within_the_chain_and_every_row_is_saved(place_order, published):
    """A refused reservation fails the step; its .OnError path schedules the refund and the
    notice on the failure path, where no job starts early: each is saved SCHEDULED, then runs
    next in the same chain."""
    order = place_order(lines=[("DESK-01", 1), ("LAMP-03", 1)])  # the lamp is out of stock

    _deliver_first(order, published)

    assert len(published) == 1
    order.refresh_from_db()
    assert order.outcome == "compensated"
    assert [a["outcome"] for a in task_of(order, "reserve_inventory").data["attempts"]] == ["failed"]
    for step in ("refund_payment", "notify_compensation"):
        assert task_of(order, step).status == STATUS.DONE, step
        assert [a["outcome"] for a in task_of(order, step).data["attempts"]] == ["done"], step
    assert not Task.objects.filter(process=order, flow_task_type="JOB", status=STATUS.NEW).exists()


def test_the_message_carries_the_jobs_limits_plus_the_chain_window(place_order, published, settings):
    order = place_order()

    (task_id, options), *_ = published
    limit = task_of(order, "authorize_payment").flow_task.time_limit
    soft = limit + HARD_LIMIT_MARGIN_SECONDS + settings.JOB_CHAIN_SECONDS
    assert options["soft_time_limit"] == soft
    assert options["time_limit"] == soft + HARD_LIMIT_MARGIN_SECONDS
    assert task_id == task_of(order, "authorize_payment").external_task_id


@pytest.mark.usefixtures("_carrier_quiet")
def test_with_no_chain_window_every_job_is_published_with_its_own_limits(place_order, published, settings):
    settings.JOB_CHAIN_SECONDS = 0
    order = place_order()

    assert _deliver_first(order, published) == "done"

    assert [task_id for task_id, _ in published] == [
        task_of(order, "authorize_payment").external_task_id,
        task_of(order, "check_fraud").external_task_id,
    ]
    limit = task_of(order, "check_fraud").flow_task.time_limit
    assert published[1][1]["soft_time_limit"] == limit
    assert task_of(order, "check_fraud").status == STATUS.SCHEDULED


def _in_a_chain(monkeypatch, seconds: float) -> None:
    monkeypatch.setattr(job_chain, "_chain", job_chain._Chain(deadline=time.monotonic() + seconds))


def test_a_job_due_later_or_whose_limits_do_not_fit_is_published(published, monkeypatch, caplog):
    _in_a_chain(monkeypatch, 20)

    with caplog.at_level(logging.INFO, logger="processes.nodes"):
        assert celery_job.job_send("f/1/1", "due-later", "c", countdown=3, time_limit=2)
        assert celery_job.job_send("f/1/2", "too-long", "c", time_limit=30)  # 30 + 5 > 20 s left
        assert celery_job.job_send("f/1/3", "fits", "c", time_limit=2)

    assert [task_id for task_id, _ in published] == ["due-later", "too-long"]
    assert [job.external_task_id for job in job_chain._chain.queue] == ["fits"]
    assert [e["task_ref"] for e in log_events(caplog, "job.chain_cut")] == ["f/1/2"]


def test_a_chain_that_raises_publishes_what_it_queued(published, monkeypatch):
    def first_job(ref, message_id=None):
        celery_job.job_send("f/1/2", "second", "c", time_limit=2)
        celery_job.job_send("f/1/3", "third", "c", time_limit=2)
        raise OperationalError("the database went away")

    monkeypatch.setattr(celery_job, "job_execute", first_job)
    with pytest.raises(OperationalError):
        job_chain_run("f/1/1", message_id="first", soft_limit=100)

    assert [task_id for task_id, _ in published] == ["second", "third"]
    assert job_chain._chain is None


def test_the_soft_limit_interrupts_the_job_inside_a_chain(monkeypatch):
    _in_a_chain(monkeypatch, 100)
    started = time.monotonic()

    with pytest.raises(SoftTimeLimitExceeded), attempt_limits("f/1/1", 1):
        time.sleep(5)

    assert 0.9 < time.monotonic() - started < 3
    assert signal.getsignal(signal.SIGALRM) is not job_chain._soft_limit  # restored


def test_outside_a_chain_no_limit_is_armed():
    handler = signal.getsignal(signal.SIGALRM)

    with attempt_limits("f/1/1", 1):
        assert signal.getsignal(signal.SIGALRM) is handler


def test_a_timer_armed_before_runs_on_after_the_attempt(monkeypatch):
    _in_a_chain(monkeypatch, 100)
    before = signal.getitimer(signal.ITIMER_REAL)[0]

    with attempt_limits("f/1/1", 1):
        pass

    after = signal.getitimer(signal.ITIMER_REAL)[0]
    assert (after > 0) == (before > 0)  # pytest-timeout's, when it uses SIGALRM


def _ignore_the_soft_limit() -> None:
    job_chain._chain = job_chain._Chain(deadline=time.monotonic() + 100)
    with attempt_limits("f/1/1", 0.2):
        while True:  # a job that swallows the soft limit: only the hard one ends it
            with contextlib.suppress(SoftTimeLimitExceeded):
                time.sleep(10)


def test_the_hard_limit_kills_a_job_that_ignores_the_soft_one():
    child = multiprocessing.get_context("fork").Process(target=_ignore_the_soft_limit)
    started = time.monotonic()
    child.start()
    child.join(timeout=HARD_LIMIT_MARGIN_SECONDS + 10)

    assert child.exitcode == -signal.SIGKILL
    assert time.monotonic() - started >= HARD_LIMIT_MARGIN_SECONDS
