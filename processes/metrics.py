"""`/metrics` for Prometheus (issue 15, ADR 0018): what happened, and what the database says now.

Gauges computed at scrape time from the database, so every web process answers the same and
nothing is counted twice however many processes serve it:

- `portal_tasks_open{process_type, stage, status}`: people's tasks waiting in a queue (NEW) or
  held by someone (ASSIGNED);
- `portal_tasks_overdue{process_type, stage}`: open tasks past their due time (the SLA);
- `portal_incidents_open{process_type}`: failed automated steps waiting for a retry or a skip;
- `portal_processes_stuck{process_type}`: running processes idle for STUCK_AFTER_MINUTES that
  wait on no person, timer or message (processes/operations/selectors.py, ADR 0020);
- `portal_timers_due_oldest_seconds`: how late the oldest due, unfired timer is (escalation lag);
- `portal_emails_pending`, `portal_emails_failed`: the email outbox;
- `portal_webhooks_pending`, `portal_webhooks_failed`: the webhook
  outbox (processes/webhooks/; delivered rows are kept WEBHOOK_KEEP_DAYS).

Process types are labelled by their flow reference (`purchase/flows.PurchaseFlow`, the task list's
`?flow=`), from the registry: a new process type needs no metrics code. The task gauges are one
grouped pass over the open rows (processes/tasklist/models.py), so a scrape's cost follows the
open work, not the history; the timer gauge reads the oldest due timer by its index, and the
stuck count merges two index-only scans (migration 0028). On PostgreSQL the open tasks are counted
on a second connection while the stuck count runs (`_side_read`), so the two overlap; `make bench
NAME=metrics` measures the scrape at a million tasks. No gauge reads the finished history.

Counters and histograms of what happened (processes started, tasks decided, job attempts, HTTP
requests, ...) are defined in processes/instruments.py; `metrics_from_audit` feeds most of them
from the audit trail, after commit. In multi-process mode (`PROMETHEUS_MULTIPROC_DIR`) the scrape
sums every process's files once, then adds the gauges above and the broker's queues
(`portal_queue_depth`, `portal_queue_oldest_age_seconds`, read with a short timeout; a broker
that does not answer gives `portal_broker_up 0`, never a failed scrape). ADR 0018.

The endpoint answers a bearer token (`METRICS_TOKEN`), or a caller on the loopback interface
that no proxy forwarded (no `X-Forwarded-For` or `Forwarded` header): a proxy in front of the
portal connects from loopback too, and must not make the metrics public.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection, connections, transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from viewflow.workflow.fields import get_flow_ref
from viewflow.workflow.models import Process, Task
from viewflow.workflow.nodes import CompensateThrow
from viewflow.workflow.status import PROCESS, STATUS

from processes import instruments as m
from processes.mail.models import OutgoingEmail
from processes.operations.selectors import stuck_process_counts
from processes.registry import registry
from processes.tasklist.models import OPEN_STATUSES, TaskRow
from processes.tasklist.selectors import task_row_stage
from processes.webhooks.models import WebhookDelivery

if TYPE_CHECKING:
    from processes.models import AuditEvent

logger = structlog.get_logger(__name__)
_T = TypeVar("_T")


class PortalCollector(Collector):
    """The gauges of the module docstring, read from the database on each scrape."""

    def collect(self) -> Iterator[Metric]:
        known = {descriptor.flow_ref for descriptor in registry}
        open_tasks = GaugeMetricFamily(
            "portal_tasks_open",
            "People's tasks waiting in a queue (NEW) or held by someone (ASSIGNED).",
            labels=["process_type", "stage", "status"],
        )
        overdue = GaugeMetricFamily(
            "portal_tasks_overdue",
            "Open people's tasks past their due time (the SLA).",
            labels=["process_type", "stage"],
        )
        # The two gauges that read most (open tasks, stuck processes) run side by side.
        open_rows = _side_read(_open_task_counts)
        stuck_counts = stuck_process_counts()
        late: dict[tuple[str, str], int] = {}
        for flow_ref, stage, status, n, n_late in open_rows():
            open_tasks.add_metric([_ref(flow_ref), stage, status], n)
            if n_late:
                key = (_ref(flow_ref), stage)
                late[key] = late.get(key, 0) + n_late
        for (flow_ref, stage), n in sorted(late.items()):
            overdue.add_metric([flow_ref, stage], n)
        yield open_tasks
        yield overdue

        incidents = GaugeMetricFamily(
            "portal_incidents_open",
            "Failed automated steps waiting for a retry or a skip.",
            labels=["process_type"],
        )
        counts = dict.fromkeys(sorted(known), 0)
        rows = (
            Task.objects.filter(flow_task_type="JOB", status=STATUS.ERROR)
            .values_list("process__flow_class")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for flow_class, n in rows:
            counts[_ref(flow_class)] = counts.get(_ref(flow_class), 0) + n
        for flow_ref, n in counts.items():
            incidents.add_metric([flow_ref], n)
        yield incidents

        # Running processes waiting on nobody (no person, timer or message) and idle for
        # STUCK_AFTER_MINUTES: the operations dashboard's definition (ADR 0020), one grouped query.
        stuck = GaugeMetricFamily(
            "portal_processes_stuck",
            "Running processes with no transition for STUCK_AFTER_MINUTES that wait on no person, timer or message.",
            labels=["process_type"],
        )
        for flow_ref, n in sorted(stuck_counts.items()):
            stuck.add_metric([flow_ref], n)
        yield stuck

        # Escalation lag: the oldest timer (reminder, escalation level, deadline) due and not
        # fired yet. Few timers are SCHEDULED at once; the index on `scheduled` orders them.
        oldest_due = (
            Task.objects.filter(
                flow_task_type="TIMER", status=STATUS.SCHEDULED, scheduled__lte=timezone.now()
            )
            .order_by("scheduled")
            .values_list("scheduled", flat=True)
            .first()
        )
        yield GaugeMetricFamily(
            "portal_timers_due_oldest_seconds",
            "How long the oldest due timer (reminder, escalation, deadline) has waited to fire (0: none).",
            value=(timezone.now() - oldest_due).total_seconds() if oldest_due else 0.0,
        )

        by_status = dict(
            OutgoingEmail.objects.filter(
                status__in=[OutgoingEmail.Status.PENDING, OutgoingEmail.Status.FAILED]
            )
            .values_list("status")
            .annotate(n=Count("pk"))
            .order_by()
        )
        yield GaugeMetricFamily(
            "portal_emails_pending",
            "Emails in the outbox not delivered yet (retried with backoff).",
            value=by_status.get(OutgoingEmail.Status.PENDING, 0),
        )
        yield GaugeMetricFamily(
            "portal_emails_failed",
            "Emails the outbox gave up on.",
            value=by_status.get(OutgoingEmail.Status.FAILED, 0),
        )

        # Only the unsent rows (a partial index): delivered ones are history, and their number is
        # the counter portal_webhook_deliveries_total{outcome="sent"}.
        hooks = dict(
            WebhookDelivery.objects.filter(
                status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED]
            )
            .values_list("status")
            .annotate(n=Count("pk"))
            .order_by()
        )
        yield GaugeMetricFamily(
            "portal_webhooks_pending",
            "Webhook deliveries not delivered yet (retried with backoff for about 3 days).",
            value=hooks.get(WebhookDelivery.Status.PENDING, 0),
        )
        yield GaugeMetricFamily(
            "portal_webhooks_failed",
            "Webhook deliveries given up on (every attempt failed, or the receiver answered 410).",
            value=hooks.get(WebhookDelivery.Status.FAILED, 0),
        )


def _open_task_counts() -> list[tuple[str, str, str, int, int]]:
    """One pass over the open rows for both task families: (flow, stage, status, open, late)."""
    return list(
        TaskRow.objects.filter(status__in=OPEN_STATUSES)
        .values_list("flow_class", "stage_name", "status")
        .annotate(n=Count("task_id"), late=Count("task_id", filter=Q(due_at__lt=timezone.now())))
        .order_by()
    )


# One thread per process for the scrape's side read, with its own database connection.
_side_reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics-read")


def _on_own_connection(read: Callable[[], _T]) -> _T:
    try:
        return read()
    finally:
        connections.close_all()  # this thread's connection (back to the pool, if there is one)


def _side_read(read: Callable[[], _T]) -> Callable[[], _T]:
    """Start `read` beside the caller's own queries and return how to get its result. On
    PostgreSQL it runs in another thread on its own connection, so a scrape's two largest reads
    overlap (bench/metrics.py). On SQLite, or inside a transaction (whose snapshot and uncommitted
    rows another connection would not share), it runs here and now."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        result = read()
        return lambda: result
    future = _side_reader.submit(_on_own_connection, read)
    return future.result


def _ref(value: object) -> str:
    """A flow reference as a label: the stored text (a reference field hands out the class)."""
    if isinstance(value, type):
        return get_flow_ref(value)
    return str(value) if value else "unknown"


class InProcessCollector(Collector):
    """This process's counters and histograms (single-process mode: the tests, one server)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def metrics_text() -> bytes:
    """The exposition text: every process's counters (summed once), then the gauges, freshly read."""
    collectors = CollectorRegistry(auto_describe=False)
    if m.multiprocess_dir():
        from prometheus_client.multiprocess import MultiProcessCollector

        m.dead_processes_forget()
        MultiProcessCollector(collectors)
    else:
        collectors.register(InProcessCollector())
    collectors.register(PortalCollector())
    collectors.register(QueueCollector())
    return generate_latest(collectors)


# ---------------------------------------------------------------- the broker's queues

# kombu's Redis transport keeps a queue's priorities in separate lists: `celery`, then
# `celery\x06\x163`, `celery\x06\x166`, `celery\x06\x169` (kombu.transport.redis, PRIORITY_STEPS).
_REDIS_PRIORITY_SEP = "\x06\x16"
_REDIS_PRIORITY_STEPS = (3, 6, 9)
# The header portal/celery.py stamps on every message it publishes (time.time()).
SENT_AT_HEADER = "portal_sent_at"


def _queue_names() -> list[str]:
    names = [getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")]
    names += [str(name) for name in getattr(settings, "METRICS_QUEUES", []) if name not in names]
    return names


def _redis_queues(url: str, names: list[str]) -> dict[str, tuple[int, float | None]]:
    import redis

    timeout = settings.METRICS_BROKER_TIMEOUT
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.llen(name)
            for step in _REDIS_PRIORITY_STEPS:
                pipe.llen(f"{name}{_REDIS_PRIORITY_SEP}{step}")
            pipe.lindex(name, -1)  # LPUSH in, BRPOP out: the oldest message is the last one
        answers = pipe.execute()
    finally:
        client.close()
    result: dict[str, tuple[int, float | None]] = {}
    width = 2 + len(_REDIS_PRIORITY_STEPS)
    for index, name in enumerate(names):
        *lengths, oldest = answers[index * width : (index + 1) * width]
        result[name] = (sum(int(n) for n in lengths), _age_of(oldest))
    return result


def _age_of(raw: bytes | None) -> float | None:
    """Seconds since the message `raw` (kombu's JSON envelope) was published, from our header."""
    if not raw:
        return None
    try:
        sent_at = float(json.loads(raw)["headers"][SENT_AT_HEADER])
    except (ValueError, KeyError, TypeError):
        return None
    return max(0.0, time.time() - sent_at)


def _amqp_queues(url: str, names: list[str]) -> dict[str, tuple[int, float | None]]:
    from kombu import Connection

    result: dict[str, tuple[int, float | None]] = {}
    timeout = settings.METRICS_BROKER_TIMEOUT
    with Connection(url, connect_timeout=timeout, transport_options={"max_retries": 0}) as connection:
        channel = connection.channel()
        for name in names:
            # Passive: only asks; AMQP cannot tell a message's age without taking it.
            try:
                _, depth, _ = channel.queue_declare(queue=name, passive=True)
            except connection.channel_errors:  # 404: not declared yet (no worker or publisher
                depth = 0  # ever used it), so nothing waits; the error closed the channel
                channel = connection.channel()
            result[name] = (int(depth), None)
    return result


def broker_queues() -> dict[str, tuple[int, float | None]] | None:
    """Each Celery queue's depth and its oldest message's age (None: unknown); None when the
    broker is not one this reads (the embedded SQLite broker)."""
    url = settings.CELERY_BROKER_URL
    names = _queue_names()
    if url.startswith(("redis://", "rediss://")):
        return _redis_queues(url, names)
    if url.startswith(("amqp://", "amqps://", "pyamqp://")):
        return _amqp_queues(url, names)
    return None


class QueueCollector(Collector):
    """The broker's queues at scrape time, within METRICS_BROKER_TIMEOUT; never fails the scrape."""

    def collect(self) -> Iterator[Metric]:
        try:
            queues = broker_queues()
        except Exception as exc:  # any broker trouble is a sample, not a failed scrape
            logger.warning("metrics.broker_unreadable", error=type(exc).__name__)
            yield GaugeMetricFamily(
                "portal_broker_up", "Did the broker answer the scrape's queue probe?", value=0
            )
            return
        if queues is None:
            return
        yield GaugeMetricFamily(
            "portal_broker_up", "Did the broker answer the scrape's queue probe?", value=1
        )
        depth = GaugeMetricFamily(
            "portal_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "portal_queue_oldest_age_seconds",
            "Age of the oldest message waiting in a Celery queue (0: empty; Redis only).",
            labels=["queue"],
        )
        for name, (n, oldest) in queues.items():
            depth.add_metric([name], n)
            if oldest is not None or n == 0:
                age.add_metric([name], oldest or 0.0)
        yield depth
        yield age


# ---------------------------------------------------------------- counting from the audit trail


def _version(process: Process) -> str:
    """The approval policy version a process pinned (its id), '' for a type without one. Read
    from the loaded row's foreign key: no query."""
    field = registry.for_process(process).policy_field
    value = getattr(process, f"{field}_id", None) if field else None
    return str(value) if value is not None else ""


def metrics_from_audit(event: AuditEvent) -> None:
    """The audit trail's observer (processes/apps.py): count what `event` stands for once its
    transaction commits. People's tasks read their list row then (stage, due time)."""
    process, task, details = event.process, event.task, event.details or {}
    action = event.action
    if action == "task.escalated":
        level, kind = str(details.get("level", "")), str(details.get("action", ""))
        m.count_on_commit(lambda: m.ESCALATIONS.labels(level=level, action=kind).inc())
        return
    if action == "task.reminded":
        m.count_on_commit(lambda: m.ESCALATIONS.labels(level="0", action="remind").inc())
        return
    if process is None:
        return
    process_type = _ref(process.flow_class)
    node_type = details.get("node_type", "")
    if action == "process.started":
        version = _version(process)
        m.count_on_commit(lambda: m.PROCESSES_STARTED.labels(process_type, version).inc())
    elif action == "process.finished" and process.status == PROCESS.DONE:
        version = _version(process)
        took = (timezone.now() - process.created).total_seconds() if process.created else None

        def completed() -> None:
            m.PROCESSES_COMPLETED.labels(process_type, version).inc()
            if took is not None:
                m.PROCESS_DURATION.labels(process_type).observe(took)

        m.count_on_commit(completed)
    elif action == "task.completed" and task is not None and isinstance(task.flow_task, CompensateThrow):
        version = _version(process)
        m.count_on_commit(lambda: m.PROCESSES_COMPENSATED.labels(process_type, version).inc())
    elif action == "job.attempt_failed" and task is not None:
        node = task.flow_task.name
        m.count_on_commit(lambda: m.JOB_RETRIES.labels(process_type, node).inc())
    elif action == "task.failed" and node_type == "JOB":
        node = str(details.get("node", ""))
        m.count_on_commit(lambda: m.JOB_FAILURES.labels(process_type, node).inc())
    elif node_type == "HUMAN" and task is not None and action in _HUMAN_COUNTED:
        created, at = task.created, timezone.now()
        m.count_on_commit(lambda: _count_human(action, process_type, task, created, at))


_HUMAN_COUNTED = ("task.created", "task.assigned", "task.completed")


def _count_human(action: str, process_type: str, task: Task, created: datetime | None, at: datetime) -> None:
    """Count a people's task's creation, claim or decision, with its list row's stage and due time
    (as the transaction wrote or read the row, if it did: then nothing is read)."""
    stage, due_at = task_row_stage(task)
    waited = (at - created).total_seconds() if created else None
    if action == "task.created":
        m.TASKS_CREATED.labels(process_type, stage).inc()
    elif action == "task.assigned":
        m.TASKS_CLAIMED.labels(process_type, stage).inc()
        if waited is not None:
            m.TASK_WAIT.labels(process_type, stage).observe(waited)
    else:
        m.TASKS_DECIDED.labels(process_type, stage).inc()
        if waited is not None:
            m.TASK_DECISION.labels(process_type, stage).observe(waited)
        if due_at is None or at <= due_at:
            m.TASKS_DECIDED_WITHIN_SLA.labels(process_type, stage).inc()
        else:
            m.SLA_BREACHES.labels(process_type, stage).inc()


def metrics_process_saved(
    sender: Any, instance: Process, created: bool, update_fields: Any, **kwargs: Any
) -> None:
    """post_save of a process model (processes/apps.py): viewflow's `Flow.cancel` saves the whole
    row with status CANCELED; no other code writes that status, and no audit event says so."""
    if created or update_fields is not None or instance.status != PROCESS.CANCELED:
        return
    process_type, version = _ref(instance.flow_class), _version(instance)
    m.count_on_commit(lambda: m.PROCESSES_CANCELLED.labels(process_type, version).inc())


def _is_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode())
    if header or "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        return ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@login_not_required
@never_cache
@require_GET
@transaction.non_atomic_requests
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus's scrape: 401 without the token, unless the caller is local and unproxied."""
    if not _is_allowed(request):
        response = HttpResponse("metrics need a bearer token\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
