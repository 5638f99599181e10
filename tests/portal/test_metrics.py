"""/metrics (processes/metrics.py): who may scrape it, and what it says per process type."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from viewflow.workflow.status import STATUS

from processes.registry import registry
from processes.tasklist.models import TaskRow
from tests.conftest import task_of

PURCHASE = "purchase/flows.PurchaseFlow"


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    return settings.METRICS_TOKEN


def _sample(body: str, name: str, **labels: str) -> float | None:
    """The value of sample `name{labels}` in an exposition text (None: no such sample)."""
    want = ",".join(f'{key}="{value}"' for key, value in labels.items())
    prefix = f"{name}{{{want}}} " if labels else f"{name} "
    for line in body.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return None


@pytest.mark.parametrize(
    ("remote", "headers", "expected"),
    [
        ("127.0.0.1", {}, 200),
        ("::1", {}, 200),
        ("203.0.113.7", {}, 401),
        ("127.0.0.1", {"HTTP_X_FORWARDED_FOR": "203.0.113.7"}, 401),  # a proxy on this host
        ("127.0.0.1", {"HTTP_FORWARDED": "for=203.0.113.7"}, 401),
        ("127.0.0.1", {"HTTP_AUTHORIZATION": "Bearer wrong"}, 401),
        ("203.0.113.7", {"HTTP_AUTHORIZATION": "Bearer wrong"}, 401),
        ("203.0.113.7", {"HTTP_AUTHORIZATION": "Bearer s3cret-scrape-token"}, 200),
        ("203.0.113.7", {"HTTP_AUTHORIZATION": "Basic czNjcmV0"}, 401),
    ],
)
def test_only_the_token_or_an_unproxied_local_caller_scrapes(db, client, token, remote, headers, expected):
    response = client.get("/metrics", REMOTE_ADDR=remote, **headers)

    assert response.status_code == expected
    if expected == 401:
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert b"portal_" not in response.content


def test_without_a_token_configured_no_bearer_gets_in(db, client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 401


def test_the_gauges_follow_the_open_work_per_process_type_and_stage(
    client, purchase_policy, submit_request, olivia
):
    from processes.services import task_claim

    queued = submit_request(title="Desk")
    claimed = submit_request(title="Chair")
    task_claim(task=task_of(claimed, "approve"), user=olivia)
    late = submit_request(title="Lamp")
    TaskRow.objects.filter(task_id=task_of(late, "approve").pk).update(
        due_at=timezone.now() - timedelta(minutes=1)
    )

    response = client.get("/metrics")
    body = response.content.decode()

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert _sample(body, "portal_tasks_open", process_type=PURCHASE, stage="Team approval", status="NEW") == 2
    assert (
        _sample(body, "portal_tasks_open", process_type=PURCHASE, stage="Team approval", status="ASSIGNED")
        == 1
    )
    assert _sample(body, "portal_tasks_overdue", process_type=PURCHASE, stage="Team approval") == 1
    # Every registered process type has its incidents gauge, zero included.
    for descriptor in registry:
        assert _sample(body, "portal_incidents_open", process_type=descriptor.flow_ref) == 0
    assert _sample(body, "portal_emails_pending") is not None
    assert queued.pk  # three requests, three open approvals


def test_a_failed_step_counts_as_an_open_incident(client, submit_request):
    # A failed automated step as the job node leaves it (status ERROR); failing a real job is
    # tests/processes/test_incidents.py's business, the gauge only counts such rows.
    process = submit_request()
    task_of(process, "approve").__class__.objects.filter(process=process, flow_task_type="HUMAN").update(
        status=STATUS.ERROR, flow_task_type="JOB"
    )
    body = client.get("/metrics").content.decode()
    assert _sample(body, "portal_incidents_open", process_type=PURCHASE) == 1


def test_a_scrape_costs_the_same_few_queries_however_much_work_is_open(
    client, submit_request, django_assert_max_num_queries
):
    for title in ("A", "B", "C", "D", "E"):
        submit_request(title=title)
    with django_assert_max_num_queries(7):  # a session-less request: one query per gauge family
        assert client.get("/metrics").status_code == 200


def test_the_scrape_query_count_does_not_grow_with_the_rows(client, submit_request, olivia):
    """The scrape's cost at a million tasks, pinned by its query count: the same number of grouped
    queries whatever the rows, and none for the counters and histograms (they live in memory or in
    the multi-process files). bench/ measures the time."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from processes.services import task_claim

    submit_request(title="One")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/metrics").status_code == 200
    for n in range(12):
        process = submit_request(title=f"Many {n}")
        if n % 3 == 0:
            task_claim(task=task_of(process, "approve"), user=olivia)
    with CaptureQueriesContext(connection) as many:
        body = client.get("/metrics").content.decode()

    assert len(many.captured_queries) == len(few.captured_queries) <= 7
    assert "portal_processes_started_total" in body  # the counters came with no query


def test_stuck_processes_are_a_gauge_per_process_type(client, place_order):
    """The dashboard's stuck definition (ADR 0020), exported: every registered type has a sample,
    0 when none of its processes is stuck (the selector's own cases: tests/processes/operations/)."""
    import time_machine
    from django.utils import timezone

    place_order()  # its first job is never run: lost, so stuck once idle past the setting

    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        body = client.get("/metrics").content.decode()

    assert _sample(body, "portal_processes_stuck", process_type=PURCHASE) == 0
    assert _sample(body, "portal_processes_stuck", process_type="orders/flows.OrderFlow") == 1
