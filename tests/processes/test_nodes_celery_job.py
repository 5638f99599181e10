"""The CeleryJob node: enqueue after commit, tolerate redelivery, record failures, recover lost messages."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError, transaction
from django.utils import timezone
from viewflow.workflow.models import Task
from viewflow.workflow.status import PROCESS, STATUS

from processes import scheduler
from processes.exceptions import TransientError
from processes.models import AuditEvent
from processes.nodes import celery_job
from processes.nodes.celery_job import RetryPolicy, job_execute
from processes.purchase import services
from processes.purchase.models import PurchaseOrder
from processes.purchase.services import purchase_task_decide
from processes.services import task_claim
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved(submit_request, olivia, django_capture_on_commit_callbacks):
    """A request olivia approved: its order job is SCHEDULED. Returns (process, job task, sent messages)."""
    sent = []
    process = submit_request(amount="129.00")
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    record = mock.patch.object(
        celery_job, "job_send", side_effect=lambda *args, **kwargs: sent.append(args) or True
    )
    with record, django_capture_on_commit_callbacks(execute=True):
        purchase_task_decide(task=approve, user=olivia, approved=True)
    return process, task_of(process, "create_order"), sent


def _ref(task) -> str:
    return task.flow_task.activation_class(task).ref()


def test_the_message_is_sent_after_commit_with_the_task_id_as_celery_id(approved):
    process, job, sent = approved

    assert sent == [(_ref(job), job.external_task_id, str(process.correlation_id))]


def test_nothing_is_sent_when_the_transaction_rolls_back(
    submit_request, olivia, django_capture_on_commit_callbacks
):
    process = submit_request()
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)

    with (
        mock.patch.object(celery_job, "job_send") as send,
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        purchase_task_decide(task=approve, user=olivia, approved=True)
        raise RuntimeError("the request fails after the decision")

    send.assert_not_called()
    assert not Task.objects.filter(process=process, flow_task_type="JOB").exists()


def test_a_message_delivered_twice_creates_one_order(approved):
    process, job, _ = approved

    assert job_execute(_ref(job)) == "done"
    assert job_execute(_ref(job)) == "skipped"

    assert PurchaseOrder.objects.filter(process=process).count() == 1
    assert AuditEvent.objects.filter(process=process, action="purchase.order_created").count() == 1


def test_a_redelivery_while_started_runs_again_with_the_same_idempotency_key(approved):
    """A worker died after STARTED: the redelivered message finishes the job with the same key."""
    _process, job, _ = approved
    with job.activation() as activation:
        activation.start()

    with mock.patch.object(services, "purchase_order_create", wraps=services.purchase_order_create) as create:
        assert job_execute(_ref(job)) == "done"

    create.assert_called_once_with(process=mock.ANY, idempotency_key=job.data["idempotency_key"])
    job.refresh_from_db()
    assert job.status == STATUS.DONE


def test_a_failing_job_becomes_an_incident_with_its_error(approved):
    process, job, _ = approved
    flow = process.flow_class
    flow.create_order._handler = mock.Mock(side_effect=ConnectionError("ERP is down"))
    try:
        assert job_execute(_ref(job)) == "failed"
    finally:
        flow.create_order._handler = flow.instance.purchase_order_create

    job.refresh_from_db()
    assert job.status == STATUS.ERROR
    assert job.data["_exception"]["title"] == "ERP is down"
    process.refresh_from_db()
    assert process.status == PROCESS.NEW
    failed = AuditEvent.objects.get(task=job, action="task.failed")
    assert failed.details["error"] == "ERP is down"


def test_a_revived_incident_keeps_its_idempotency_key(approved, maria):
    process, job, _ = approved
    flow = process.flow_class
    flow.create_order._handler = mock.Mock(side_effect=ConnectionError("ERP is down"))
    try:
        job_execute(_ref(job))
    finally:
        flow.create_order._handler = flow.instance.purchase_order_create
    job.refresh_from_db()

    with mock.patch.object(celery_job, "job_send", return_value=True), job.activation() as activation:
        revived = activation.revive()

    assert revived.data["idempotency_key"] == job.data["idempotency_key"]
    assert revived.external_task_id != job.external_task_id
    assert job_execute(_ref(revived)) == "done"
    process.refresh_from_db()
    assert process.status == PROCESS.DONE


def test_the_sweep_resends_jobs_stuck_in_scheduled(approved, settings):
    process, job, _sent = approved
    settings.JOB_STUCK_AFTER_SECONDS = 60
    later = timezone.now() + timedelta(seconds=61)

    with mock.patch.object(celery_job, "job_send", return_value=True) as send:
        assert scheduler.jobs_sweep_stuck(now=timezone.now()) == 0  # not stuck yet
        assert scheduler.jobs_sweep_stuck(now=later) == 1
        assert scheduler.jobs_sweep_stuck(now=later + timedelta(seconds=1)) == 0  # just re-sent

    send.assert_called_once_with(
        _ref(job), job.external_task_id, str(process.correlation_id), time_limit=job.flow_task.time_limit
    )
    job.refresh_from_db()
    assert job.data["resent"] == 1


def test_the_sweep_leaves_started_and_finished_jobs_alone(approved):
    _process, job, _ = approved
    job_execute(_ref(job))

    with mock.patch.object(celery_job, "job_send") as send:
        assert scheduler.jobs_sweep_stuck(now=timezone.now() + timedelta(hours=1)) == 0
    send.assert_not_called()


def test_a_broker_outage_at_commit_is_logged_and_the_job_stays_scheduled(approved, settings):
    process, job, _ = approved
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    with mock.patch("processes.tasks.job_run.apply_async", side_effect=ConnectionError("broker down")):
        assert celery_job.job_send(_ref(job), job.external_task_id, str(process.correlation_id)) is False

    job.refresh_from_db()
    assert job.status == STATUS.SCHEDULED  # the sweep will re-send it


def test_a_message_whose_id_is_not_the_tasks_is_ignored(approved):
    _process, job, _ = approved

    assert job_execute(_ref(job), message_id="an-old-message") == "stale"

    job.refresh_from_db()
    assert job.status == STATUS.SCHEDULED
    assert job_execute(_ref(job), message_id=job.external_task_id) == "done"


def _failing_then(results):
    """A stand-in for the order service: raise each exception in `results`, then create the order."""
    original = services.purchase_order_create
    queue = list(results)

    def fake(**kwargs):
        if queue:
            raise queue.pop(0)
        return original(**kwargs)

    return mock.patch.object(services, "purchase_order_create", side_effect=fake)


def test_transient_failures_are_retried_with_backoff_and_each_attempt_is_recorded(
    approved, django_capture_on_commit_callbacks
):
    process, job, _ = approved
    failures = [TransientError("ERP timed out"), TransientError("ERP timed out")]

    with (
        _failing_then(failures),
        mock.patch.object(celery_job, "job_send", return_value=True) as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert job_execute(_ref(job)) == "retry"
        job.refresh_from_db()
        assert job.status == STATUS.SCHEDULED
        assert job_execute(_ref(job)) == "retry"
        assert job_execute(_ref(job)) == "done"

    job.refresh_from_db()
    attempts = job.data["attempts"]
    assert [a["n"] for a in attempts] == [1, 2, 3]
    assert [a["outcome"] for a in attempts] == ["failed", "failed", "done"]
    assert attempts[0]["error"] == "TransientError: ERP timed out"
    assert 0.5 <= attempts[0]["retry_in_s"] <= 1.0  # base 1 s, jitter 50-100 %
    assert 1.0 <= attempts[1]["retry_in_s"] <= 2.0  # doubled
    assert [c.kwargs["countdown"] for c in send.call_args_list] == [
        attempts[0]["retry_in_s"],
        attempts[1]["retry_in_s"],
    ]
    assert AuditEvent.objects.filter(task=job, action="job.attempt_failed").count() == 2
    assert PurchaseOrder.objects.filter(process=process).count() == 1


def test_a_lost_database_connection_is_retried_not_an_incident(approved):
    _process, job, _ = approved

    with (
        _failing_then([OperationalError("server closed the connection unexpectedly")]),
        mock.patch.object(celery_job, "job_send", return_value=True),
    ):
        assert job_execute(_ref(job)) == "retry"
        job.refresh_from_db()
        assert job.status == STATUS.SCHEDULED
        assert job_execute(_ref(job)) == "done"

    job.refresh_from_db()
    assert [a["outcome"] for a in job.data["attempts"]] == ["failed", "done"]
    assert job.data["attempts"][0]["error"].startswith("OperationalError: server closed")


def test_the_last_allowed_attempt_makes_an_incident(approved):
    _process, job, _ = approved
    policy = job.flow_task.retry_policy

    with (
        _failing_then([TransientError("down")] * policy.max_attempts),
        mock.patch.object(celery_job, "job_send"),
    ):
        outcomes = [job_execute(_ref(job)) for _ in range(policy.max_attempts)]

    assert outcomes == ["retry"] * (policy.max_attempts - 1) + ["failed"]
    job.refresh_from_db()
    assert job.status == STATUS.ERROR
    assert len(job.data["attempts"]) == policy.max_attempts
    assert job.data["_exception"]["title"] == "down"


def test_a_delivery_while_the_attempt_is_still_running_is_a_duplicate(approved):
    process, job, _ = approved
    with job.activation() as activation:
        job.data["attempts"] = [{"n": 1, "started_at": timezone.now().isoformat()}]
        activation.start()

    assert job_execute(_ref(job)) == "duplicate"
    assert not PurchaseOrder.objects.filter(process=process).exists()


def test_a_job_whose_worker_died_is_resent_and_finishes(approved):
    process, job, _ = approved
    died_at = timezone.now() - timedelta(seconds=job.flow_task.time_limit + 10)
    with job.activation() as activation:
        job.data["attempts"] = [{"n": 1, "started_at": died_at.isoformat()}]
        activation.start()
    much_later = timezone.now() + timedelta(seconds=120)

    with mock.patch.object(celery_job, "job_send", return_value=True) as send:
        assert scheduler.jobs_sweep_stuck(now=much_later) == 1
    send.assert_called_once()

    assert job_execute(_ref(job)) == "done"
    job.refresh_from_db()
    assert [a["outcome"] for a in job.data["attempts"]] == ["lost", "done"]
    assert PurchaseOrder.objects.filter(process=process).count() == 1


def test_backoff_is_exponential_capped_and_jittered():
    policy = RetryPolicy(base_delay=2.0, max_delay=10.0, max_attempts=9)

    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 10.0), (8, 10.0)]:
        for _ in range(20):
            assert ceiling / 2 <= policy.delay(attempt) <= ceiling


def test_only_listed_failures_are_retried():
    policy = RetryPolicy(retry_on=(TransientError,), max_attempts=3)

    assert policy.retries(TransientError(), attempt=1) is True
    assert policy.retries(TransientError(), attempt=3) is False
    assert policy.retries(ValueError(), attempt=1) is False
