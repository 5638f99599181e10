"""The portal's counters and histograms (issue 15), and prometheus-client's multi-process mode.

What happened is counted where it happens and only once it committed (`count_on_commit`): a
rolled-back change counts nothing. Most of it comes from one place, the audit trail's observer
(processes/metrics.py, `metrics_from_audit`); the rest from the job node, the timer firing, the
outboxes, the websocket consumer and the HTTP middleware. ADR 0018 lists what is counted where.

Labels stay bounded: process types by their flow reference (from the registry), stages by the
task list's stage name, routes by the resolver's route pattern, never a raw path, an id or a user.

Several processes (uvicorn `--workers N`, Celery's prefork children) each write their samples to
files in `PROMETHEUS_MULTIPROC_DIR` when it is set; `/metrics` sums the files once
(`prometheus_client.multiprocess.MultiProcessCollector`). The variable must be in the environment
before prometheus-client is imported (portal/settings.py puts it there) and its directory emptied
by whatever starts the processes (portal/devstack.py `metrics_dir_reset`). Without it, one process
keeps its samples in memory (the tests).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from django.db import transaction
from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# No `_created` samples: multi-process mode has none, and one process should say the same.
disable_created_metrics()

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0

# ---------------------------------------------------------------- processes
PROCESSES_STARTED = Counter("portal_processes_started", "Processes started.", ["process_type", "version"])
PROCESSES_COMPLETED = Counter(
    "portal_processes_completed", "Processes an End node finished (DONE).", ["process_type", "version"]
)
PROCESSES_CANCELLED = Counter(
    "portal_processes_cancelled", "Processes a manager cancelled.", ["process_type", "version"]
)
PROCESSES_COMPENSATED = Counter(
    "portal_processes_compensated",
    "Compensations: a compensation throw completed (the saga undid its steps).",
    ["process_type", "version"],
)
PROCESS_DURATION = Histogram(
    "portal_process_duration_seconds",
    "From a process's start to its end (completed processes).",
    ["process_type"],
    buckets=(MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR, 4 * HOUR, DAY, 3 * DAY, 7 * DAY, 30 * DAY),
)

# ---------------------------------------------------------------- people's tasks
_HUMAN_BUCKETS = (MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR, 4 * HOUR, 8 * HOUR, DAY, 2 * DAY, 5 * DAY, 14 * DAY)
TASKS_CREATED = Counter("portal_tasks_created", "People's tasks created.", ["process_type", "stage"])
TASKS_CLAIMED = Counter(
    "portal_tasks_claimed", "People's tasks assigned to someone (claimed).", ["process_type", "stage"]
)
TASKS_DECIDED = Counter(
    "portal_tasks_decided", "People's tasks completed (decided).", ["process_type", "stage"]
)
TASKS_DECIDED_WITHIN_SLA = Counter(
    "portal_tasks_decided_within_sla",
    "People's tasks decided before their due time, or without one. Fraction: over portal_tasks_decided_total.",
    ["process_type", "stage"],
)
SLA_BREACHES = Counter(
    "portal_sla_breaches",
    "People's tasks decided after their due time.",
    ["process_type", "stage"],
)
TASK_WAIT = Histogram(
    "portal_task_wait_seconds",
    "From a people's task's creation to its claim.",
    ["process_type", "stage"],
    buckets=_HUMAN_BUCKETS,
)
TASK_DECISION = Histogram(
    "portal_task_decision_seconds",
    "From a people's task's creation to its decision.",
    ["process_type", "stage"],
    buckets=_HUMAN_BUCKETS,
)
ESCALATIONS = Counter(
    "portal_escalations",
    "Reminders and escalation levels run on late tasks (action 'remind' for a reminder).",
    ["level", "action"],
)

# ---------------------------------------------------------------- timers and jobs
TIMER_LATENESS = Histogram(
    "portal_timer_lateness_seconds",
    "How long after its due time a timer fired.",
    buckets=(0.5, 1, 2, 5, 10, 30, MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR),
)
JOB_ATTEMPTS = Counter("portal_job_attempts", "Job attempts started.", ["process_type", "node"])
JOB_RETRIES = Counter(
    "portal_job_retries", "Failed job attempts to be tried again.", ["process_type", "node"]
)
JOB_FAILURES = Counter(
    "portal_job_failures",
    "Jobs failed for good (an incident or the node's error path).",
    ["process_type", "node"],
)
JOB_DURATION = Histogram(
    "portal_job_duration_seconds",
    "How long a job attempt ran, whatever its outcome.",
    ["process_type", "node"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, MINUTE, 5 * MINUTE),
)
WORKER_HEARTBEAT = Gauge(
    "portal_worker_heartbeat_timestamp_seconds",
    "When each Celery worker last said it is alive (every WORKER_HEARTBEAT_SECONDS).",
    ["worker"],
    multiprocess_mode="max",
)

# ---------------------------------------------------------------- outboxes
# The outboxes' gauges (portal_emails_pending, ...) are read from the database at scrape time;
# these count what happened. outcome: "sent" (accepted) or "failed" (given up on: every attempt
# failed, or a webhook receiver answered 410 Gone).
EMAIL_DELIVERIES = Counter("portal_email_deliveries", "Emails delivered or given up on.", ["outcome"])
WEBHOOK_DELIVERIES = Counter(
    "portal_webhook_deliveries", "Webhook deliveries delivered or given up on.", ["outcome"]
)

# ---------------------------------------------------------------- live notifications, HTTP
WEBSOCKETS = Gauge(
    "portal_websocket_connections",
    "Open websocket connections (live notifications), summed over the live web processes.",
    multiprocess_mode="livesum",
)
NOTIFICATION_LAG = Histogram(
    "portal_notification_lag_seconds",
    "From a notification's commit to its sending on a websocket.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, MINUTE),
)
HTTP_REQUESTS = Counter("portal_http_requests", "HTTP requests answered.", ["route", "method", "status"])
HTTP_LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "How long the portal took to answer an HTTP request.",
    ["route", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def count_on_commit(count: Callable[[], None]) -> None:
    """Count once the current transaction commits (at once outside one). A counting error is
    logged by Django (robust), never the caller's."""
    transaction.on_commit(count, robust=True)


def multiprocess_dir() -> str:
    """The multi-process directory ('' in single-process mode)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def process_dead_mark(pid: int | None = None) -> None:
    """This process (or `pid`) is ending: drop its live gauges' files (the websocket count), so
    the sum counts only live processes. Counters and histograms stay: they are totals."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


def dead_processes_forget(directory: str | None = None) -> list[int]:
    """Drop the live gauges' files of processes that are gone (each scrape calls this). A uvicorn
    worker ends by re-raising SIGTERM, so its atexit handler never runs, and a killed process runs
    nothing: the files name their pid, and the processes all run on this machine."""
    directory = directory or multiprocess_dir()
    if not directory:
        return []
    from prometheus_client import multiprocess

    dead = set()
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            dead.add(pid)
        except PermissionError:  # alive, under another user
            pass
    for pid in sorted(dead):
        multiprocess.mark_process_dead(pid, directory)
    return sorted(dead)


def worker_heartbeat(worker: str) -> None:
    WORKER_HEARTBEAT.labels(worker=worker).set(time.time())
