"""A real Prometheus (Debian's `prometheus` binary) scrapes the live portal and loads the alert rules.

The stack of tests/stack.py (uvicorn, a Celery worker and beat) serves /metrics; Prometheus runs on
a free port with its own data directory, scrapes every second from loopback (no token needed) and
evaluates deploy/prometheus/alerts.yml. After a few real approvals and one failed job, its HTTP API
must hold the series the portal exports, with their labels and values, and the rules must be
loaded and healthy.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from unittest import mock
from urllib.parse import urlencode, urlsplit
from urllib.request import urlopen

import pytest
from django.utils import timezone
from viewflow.workflow.status import PROCESS, STATUS

from processes.nodes import celery_job
from processes.nodes.celery_job import job_execute
from processes.purchase import services as purchase_services
from processes.purchase.services import purchase_task_decide
from processes.services import task_claim
from processes.tasklist.models import TaskRow
from tests.conftest import task_of
from tests.stack import ROOT, Service, free_port, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PURCHASE = "purchase/flows.PurchaseFlow"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"


class Prometheus:
    """Prometheus's HTTP API at `url`."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: str) -> dict:
        query = f"?{urlencode(params)}" if params else ""
        with urlopen(f"{self.url}{path}{query}", timeout=5) as response:  # noqa: S310 - our own server
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def series(self, query: str) -> dict[frozenset, float]:
        """An instant query's result: labels (less the name, job and instance) -> value."""
        return {
            frozenset(
                (k, v) for k, v in sample["metric"].items() if k not in {"__name__", "job", "instance"}
            ): float(sample["value"][1])
            for sample in self.get("/api/v1/query", query=query)["result"]
        }

    def wait_for_series(self, query: str, expected: dict[frozenset, float], timeout: float = 30) -> None:
        """Wait until `query` answers `expected`; on timeout, say what it answered and how the
        scrape target is."""
        seen: list[dict] = [{}]

        def matches() -> bool:
            seen[0] = self.series(query)
            return seen[0] == expected

        try:
            wait_for(matches, timeout=timeout, interval=0.5, what=query)
        except AssertionError as error:
            targets = self.get("/api/v1/targets")["activeTargets"]
            health = [(t["scrapeUrl"], t["health"], t["lastError"]) for t in targets]
            raise AssertionError(
                f"{error}\nexpected {expected}\nlast seen {seen[0]}\ntargets {health}"
            ) from None


def _labels(**labels: str) -> frozenset:
    return frozenset(labels.items())


@pytest.fixture
def prometheus(live_server_url, tmp_path: Path) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed (apt-get install prometheus)"
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(  # YAML is a superset of JSON
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES)],
                "scrape_configs": [
                    {
                        "job_name": "portal",
                        "metrics_path": "/metrics",
                        "static_configs": [{"targets": [urlsplit(live_server_url).netloc]}],
                    }
                ],
            }
        )
    )
    server = Service(
        "prometheus",
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ],
        {"PATH": "/usr/bin:/bin"},
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            with urlopen(f"{url}/-/ready", timeout=2) as response:  # noqa: S310 - our own server
                return response.status == 200
        except OSError:
            return False

    try:
        server.wait_until(ready, what="Prometheus /-/ready", timeout=30)
        yield Prometheus(url)
    finally:
        server.stop()


def _fail_the_order_step(process, olivia) -> None:
    """Approve `process` and fail its order step for good, through the worker's entry point (the
    message is not sent, so the live worker does not run it too)."""
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    with mock.patch.object(celery_job, "job_send", return_value=True):
        purchase_task_decide(task=approve, user=olivia, approved=True)
        job = task_of(process, "create_order")
        with mock.patch.object(
            purchase_services, "purchase_order_create", side_effect=ValueError("ERP said no")
        ):
            assert job_execute(job.flow_task.activation_class(job).ref()) == "failed"


def test_prometheus_scrapes_the_portal_and_loads_the_alert_rules(
    prometheus, celery_worker_process, beat_process, purchase_policy, submit_request, olivia
):
    # Two requests in the queue, one of them past its SLA; one claimed; one approved and finished
    # by the worker; one approved whose order step failed (an incident).
    submit_request(title="Desk")
    late = submit_request(title="Lamp")
    TaskRow.objects.filter(task_id=task_of(late, "approve").pk).update(
        due_at=timezone.now() - timedelta(minutes=1)
    )
    task_claim(task=task_of(submit_request(title="Chair"), "approve"), user=olivia)
    done = submit_request(title="Monitor", amount="129.00")
    approve = task_of(done, "approve")
    task_claim(task=approve, user=olivia)
    purchase_task_decide(task=approve, user=olivia, approved=True)
    failed = submit_request(title="Keyboard", amount="89.00")
    _fail_the_order_step(failed, olivia)

    def finished() -> bool:
        done.refresh_from_db()
        return done.status == PROCESS.DONE

    wait_for(finished, timeout=30, what="the worker to finish the approved request")
    assert task_of(failed, "create_order").status == STATUS.ERROR

    expected_open = {
        _labels(process_type=PURCHASE, stage="Team approval", status="NEW"): 2.0,
        _labels(process_type=PURCHASE, stage="Team approval", status="ASSIGNED"): 1.0,
    }
    prometheus.wait_for_series("portal_tasks_open", expected_open)
    assert prometheus.series("portal_tasks_overdue") == {
        _labels(process_type=PURCHASE, stage="Team approval"): 1.0
    }
    prometheus.wait_for_series(
        f'portal_incidents_open{{process_type="{PURCHASE}"}}', {_labels(process_type=PURCHASE): 1.0}
    )
    assert set(prometheus.series("portal_emails_pending")) == {frozenset()}
    assert set(prometheus.series("portal_emails_failed")) == {frozenset()}
    # The worker's counts reach the web process's scrape through the shared multi-process
    # directory (ADR 0018): its job attempt, the process it completed, its heartbeat.
    wait_for(
        lambda: prometheus.series(f'portal_processes_completed_total{{process_type="{PURCHASE}"}}'),
        timeout=30,
        interval=0.5,
        what="the worker's completed process",
    )
    attempts = prometheus.series(
        f'sum(portal_job_attempts_total{{process_type="{PURCHASE}", node="create_order"}})'
    )
    assert next(iter(attempts.values())) >= 1
    # At least this stack's worker beats now (the session's other test workers, stopped since,
    # keep their last beat in the shared directory: PortalWorkerMissing is about those).
    fresh = prometheus.series("count(time() - portal_worker_heartbeat_timestamp_seconds < 60)")
    assert next(iter(fresh.values())) >= 1
    # The broker's queue, read at scrape time.
    assert prometheus.series("portal_broker_up") == {frozenset(): 1.0}
    assert set(prometheus.series("portal_queue_depth")) == {_labels(queue="celery")}
    # The scrapes themselves, by route: never a raw path. A scrape counts after it answered, so
    # the next one shows it: wait for that (a slow machine may stretch the 1 s interval).
    wait_for(
        lambda: prometheus.series('sum(portal_http_requests_total{route="metrics", status="200"}) > 0'),
        timeout=30,
    )
    # The scrape carries the job the rules select, and the target is up.
    assert prometheus.series('up{job="portal"}') == {frozenset(): 1.0}

    def rules_evaluated() -> list[dict]:
        groups = prometheus.get("/api/v1/rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return groups if rules and all(rule["health"] == "ok" for rule in rules) else []

    groups = wait_for(rules_evaluated, timeout=30, interval=0.5, what="the alert rules to be evaluated")
    assert {group["name"] for group in groups} == {
        "portal-availability",
        "portal-incidents",
        "portal-sla",
        "portal-email",
        "portal-webhooks",
        "portal-processes",
        "portal-jobs",
        "portal-timers",
        "portal-queues",
    }
    assert all(group["file"] == str(RULES) for group in groups)
    rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert len(rules) == 17
    assert all(rule["type"] == "alerting" and not rule.get("lastError") for rule in rules.values())
    # The open incident is on its way to the alert (pending: it must last 10 minutes); nothing fires.
    # (Wait for that alert itself: in a full run PortalWorkerMissing is pending from the start, for
    # the session's stopped workers, so "any alert" came before the incidents rule's evaluation.)
    wait_for(
        lambda: [
            a
            for a in prometheus.get("/api/v1/alerts")["alerts"]
            if a["labels"]["alertname"] == "PortalIncidentsOpen"
        ],
        timeout=30,
        interval=0.5,
        what="the open incident's pending alert",
    )
    alerts = prometheus.get("/api/v1/alerts")["alerts"]
    assert {a["state"] for a in alerts} == {"pending"}
    # In a full run, the session's earlier test workers, stopped since, left their last heartbeat
    # in the shared directory: PortalWorkerMissing is rightly pending for those, and only those.
    missing = {a["labels"].get("worker") for a in alerts if a["labels"]["alertname"] == "PortalWorkerMissing"}
    beating = prometheus.series("time() - portal_worker_heartbeat_timestamp_seconds < 60")
    assert not missing & {dict(labels).get("worker") for labels in beating}
    others = [a for a in alerts if a["labels"]["alertname"] != "PortalWorkerMissing"]
    assert [(a["labels"]["alertname"], a["labels"].get("process_type"), a["state"]) for a in others] == [
        ("PortalIncidentsOpen", PURCHASE, "pending")
    ]
