"""The counters and histograms of processes/instruments.py move when their event happens, once it
committed (SQLite, this process's registry). The multi-process sum is tests/services/test_metrics_multiprocess.py's."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from prometheus_client import REGISTRY
from viewflow.workflow.status import PROCESS

from processes import metrics
from processes.mail.models import OutgoingEmail
from processes.mail.services import mail_deliver, mail_queue
from processes.nodes import celery_job
from processes.nodes.celery_job import job_execute
from processes.purchase import services as purchase_services
from processes.purchase.services import purchase_task_decide
from processes.services import task_claim
from tests.conftest import task_of

pytestmark = pytest.mark.django_db

PURCHASE = "purchase/flows.PurchaseFlow"
STAGE = "Team approval"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Moves:
    """What each named sample moved by between the snapshot and `now()`."""

    def __init__(self, *samples: tuple[str, dict[str, str]]) -> None:
        self.samples = samples
        self.before = [value(name, **labels) for name, labels in samples]

    def now(self) -> list[float]:
        return [
            value(name, **labels) - was for (name, labels), was in zip(self.samples, self.before, strict=True)
        ]


def _human(name: str) -> tuple[str, dict[str, str]]:
    return name, {"process_type": PURCHASE, "stage": STAGE}


@pytest.fixture
def no_broker():
    with mock.patch.object(celery_job, "job_send", return_value=True):
        yield


def test_a_request_counts_its_start_then_its_task_created_claimed_and_decided(
    submit_request, olivia, purchase_policy, no_broker, django_capture_on_commit_callbacks
):
    process = submit_request()
    started = (
        "portal_processes_started_total",
        {"process_type": PURCHASE, "version": str(process.policy_version_id)},
    )
    moves = Moves(
        started,
        _human("portal_tasks_created_total"),
        _human("portal_tasks_claimed_total"),
        _human("portal_task_wait_seconds_count"),
        _human("portal_tasks_decided_total"),
        _human("portal_tasks_decided_within_sla_total"),
        _human("portal_task_decision_seconds_count"),
        _human("portal_sla_breaches_total"),
    )
    with django_capture_on_commit_callbacks(execute=True):
        again = submit_request(title="Second")
    assert moves.now() == [1, 1, 0, 0, 0, 0, 0, 0]

    approve = task_of(again, "approve")
    with django_capture_on_commit_callbacks(execute=True):
        task_claim(task=approve, user=olivia)
        purchase_task_decide(task=approve, user=olivia, approved=True)

    assert moves.now() == [1, 1, 1, 1, 1, 1, 1, 0]


def test_a_decision_after_the_due_time_is_an_sla_breach(
    submit_request, olivia, purchase_policy, no_broker, django_capture_on_commit_callbacks
):
    process = submit_request()
    approve = task_of(process, "approve")
    moves = Moves(_human("portal_tasks_decided_within_sla_total"), _human("portal_sla_breaches_total"))

    with (
        time_machine.travel(timezone.now() + timedelta(hours=5)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        task_claim(task=approve, user=olivia)
        purchase_task_decide(task=approve, user=olivia, approved=True)

    assert moves.now() == [0, 1]


def test_a_rolled_back_change_counts_nothing(submit_request, django_capture_on_commit_callbacks):
    moves = Moves(_human("portal_tasks_created_total"))
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        submit_request()
        raise RuntimeError("the change fails")

    assert moves.now() == [0]


@pytest.fixture
def approved(submit_request, olivia, purchase_policy, no_broker, django_capture_on_commit_callbacks):
    process = submit_request(amount="129.00")
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    purchase_task_decide(task=approve, user=olivia, approved=True)
    return process, task_of(process, "create_order")


def _job(name: str, node: str = "create_order") -> tuple[str, dict[str, str]]:
    return name, {"process_type": PURCHASE, "node": node}


def test_a_job_counts_its_attempt_and_duration_and_its_process_completes(
    approved, django_capture_on_commit_callbacks
):
    process, job = approved
    moves = Moves(
        _job("portal_job_attempts_total"),
        _job("portal_job_duration_seconds_count"),
        _job("portal_job_failures_total"),
        (
            "portal_processes_completed_total",
            {"process_type": PURCHASE, "version": str(process.policy_version_id)},
        ),
        ("portal_process_duration_seconds_count", {"process_type": PURCHASE}),
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert job_execute(job.flow_task.activation_class(job).ref()) == "done"

    process.refresh_from_db()
    assert process.status == PROCESS.DONE
    assert moves.now() == [1, 1, 0, 1, 1]


def test_a_failing_job_counts_a_retry_then_a_failure(approved, django_capture_on_commit_callbacks):
    from processes.exceptions import TransientError

    _, job = approved
    ref = job.flow_task.activation_class(job).ref()
    moves = Moves(
        _job("portal_job_attempts_total"), _job("portal_job_retries_total"), _job("portal_job_failures_total")
    )

    with (
        django_capture_on_commit_callbacks(execute=True),
        mock.patch.object(purchase_services, "purchase_order_create", side_effect=TransientError("ERP busy")),
    ):
        assert job_execute(ref) == "retry"
    assert moves.now() == [1, 1, 0]

    job.refresh_from_db()
    with (
        django_capture_on_commit_callbacks(execute=True),
        mock.patch.object(purchase_services, "purchase_order_create", side_effect=ValueError("ERP said no")),
    ):
        assert job_execute(ref) == "failed"
    assert moves.now() == [2, 1, 1]


def test_a_cancelled_process_counts_once(submit_request, purchase_policy, django_capture_on_commit_callbacks):
    process = submit_request()
    cancelled = (
        "portal_processes_cancelled_total",
        {"process_type": PURCHASE, "version": str(process.policy_version_id)},
    )
    moves = Moves(cancelled)

    with django_capture_on_commit_callbacks(execute=True):
        process.flow_class.instance.cancel(process)
        process.save(update_fields=["status"])  # a later partial save is no second cancellation

    assert moves.now() == [1]


def test_emails_count_sent_and_given_up(olivia, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    moves = Moves(
        ("portal_email_deliveries_total", {"outcome": "sent"}),
        ("portal_email_deliveries_total", {"outcome": "failed"}),
    )
    with django_capture_on_commit_callbacks(execute=True):
        sent = mail_queue(kind="test", to_user=olivia, subject="Hello", text="Body")
        mail_deliver(email_id=sent.pk)
    assert moves.now() == [1, 0]

    settings.EMAIL_MAX_ATTEMPTS = 1
    with mock.patch("processes.mail.services.EmailMultiAlternatives.send", side_effect=OSError("SMTP down")):
        with django_capture_on_commit_callbacks(execute=False):  # queued only: delivered below
            failing = mail_queue(kind="test", to_user=olivia, subject="Hello", text="Body")
        with django_capture_on_commit_callbacks(execute=True):
            assert mail_deliver(email_id=failing.pk) == OutgoingEmail.Status.FAILED
    assert moves.now() == [1, 1]


def test_http_requests_are_counted_by_route_pattern_never_by_path(client, olivia, submit_request):
    process = submit_request()
    client.force_login(olivia)
    page = f"/purchase/{process.pk}/"
    response = client.get(page)
    route = response.wsgi_request.resolver_match.route
    assert "<" in route  # the pattern, not the id
    assert str(process.pk) not in route
    moves = Moves(
        (
            "portal_http_requests_total",
            {"route": route, "method": "GET", "status": str(response.status_code)},
        ),
        ("portal_http_request_duration_seconds_count", {"route": route, "method": "GET"}),
        ("portal_http_requests_total", {"route": "unmatched", "method": "GET", "status": "404"}),
    )

    client.get(page)
    client.get("/no/such/page/4711/")

    assert moves.now() == [1, 1, 1]


def test_the_scrape_sums_this_process_counters_with_the_gauges(
    client, submit_request, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        submit_request()

    body = client.get("/metrics").content.decode()

    assert "# TYPE portal_processes_started_total counter" in body
    assert "# TYPE portal_task_wait_seconds histogram" in body
    assert "# TYPE portal_tasks_open gauge" in body
    assert body.count("# TYPE portal_processes_started_total ") == 1  # one family, counted once


def test_a_broker_that_does_not_answer_is_a_sample_not_a_failed_scrape(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get("/metrics")

    assert response.status_code == 200
    assert "portal_broker_up 0.0" in response.content.decode()


def test_the_oldest_message_age_comes_from_the_header_the_publisher_stamps():
    import json
    import time

    raw = json.dumps({"headers": {metrics.SENT_AT_HEADER: time.time() - 30}, "body": ""}).encode()
    assert 29 <= (metrics._age_of(raw) or 0) <= 40
    assert metrics._age_of(json.dumps({"headers": {}}).encode()) is None
    assert metrics._age_of(None) is None


def test_the_publisher_stamps_the_sent_time_on_every_message():
    from portal.celery import _stamp_sent_at

    headers: dict = {}
    _stamp_sent_at(headers=headers)
    assert abs(headers[metrics.SENT_AT_HEADER] - __import__("time").time()) < 60
