"""CeleryJob: an automated flow step that runs in a Celery worker.

Why this exists: viewflow's own Celery node (`viewflow.contrib.celery.Job`) ships only with the
paid edition. The open-source core has `AbstractJob`/`AbstractJobActivation`, which keep the
status bookkeeping but leave out scheduling, the worker side, retries and cancellation; this
module adds them (docs/decisions/0002-celery-job-node.md).

How it behaves:
- `activate()` moves the task NEW -> SCHEDULED and sends the Celery message only after the
  transaction commits, with the task's `external_task_id` as the Celery task id. A message
  that cannot be sent (broker down) is logged and left to the scheduler's sweep, which re-sends
  jobs that stay SCHEDULED too long; the database row is the source of truth.
- The worker (`job_execute`) takes the flow lock only briefly: once to move SCHEDULED ->
  STARTED and record the attempt, once to finish it. The job's own code runs outside the lock,
  because viewflow does not lock long jobs and a held process lock would block every operator.
  A job due at once after a job in a worker runs next in that worker, and starts in the lock
  that finished the one before (processes/nodes/job_chain.py, ADR 0025).
- A failure the node's RetryPolicy covers is recorded as a failed attempt and the task goes
  back to SCHEDULED with a backoff delay (exponential, with jitter); the last allowed attempt
  moves it to ERROR, an incident, which fires the node's `.OnError` boundary if it has one.
  Every attempt (number, start, duration, outcome, error) is kept in `task.data["attempts"]`.
- Each attempt gets the node's time limit (soft: the job sees SoftTimeLimitExceeded and the
  attempt fails; hard, a few seconds later: the worker process is replaced). Inside a chain the
  limits are the attempt's own (job_chain.attempt_limits); the message's are a backstop.
- Messages are acknowledged late, so a worker that dies mid-job has its message delivered
  again, and the sweep re-sends a STARTED job whose attempt outlived its time limit (its worker
  is gone). A delivery for a task that is no longer SCHEDULED or STARTED does nothing, nor does
  one that arrives while the current attempt is still within its time limit (a duplicate). Every
  job gets a stable idempotency key to pass to the system it calls, the same for every attempt,
  delivery and revival of that step.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db import connection as db_connection
from django.utils import timezone
from viewflow import this
from viewflow.workflow.activation import Activation, has_manage_permission
from viewflow.workflow.exceptions import FlowLockFailed
from viewflow.workflow.fields import get_flow_ref, import_flow_by_ref
from viewflow.workflow.flow import mixins as flow_mixins
from viewflow.workflow.flow import views as flow_views
from viewflow.workflow.nodes.job import AbstractJob, AbstractJobActivation
from viewflow.workflow.status import STATUS

from processes import instruments
from processes.audit import audit_record, correlation_bind, correlation_id_of
from processes.exceptions import TransientError
from processes.locks import flow_locked
from processes.nodes.boundaries import ARMED_ON_FAILURE, JobErrorBoundary
from processes.nodes.job_chain import (
    HARD_LIMIT_MARGIN_SECONDS,
    QueuedJob,
    attempt_limits,
    chain_claim,
    chain_claimed,
    chain_claims,
    chain_fused,
    chain_take,
)
from processes.nodes.rows import task_insert_linked, task_new

logger = structlog.get_logger(__name__)

__all__ = ["HARD_LIMIT_MARGIN_SECONDS", "CeleryJob", "JobCall", "RetryPolicy", "job_execute", "job_send"]


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures a job retries, how often, and how long it waits in between."""

    # A lost or refused database connection (a restart, a failover, a full pool) is as transient
    # as a timeout: the attempt is retried, not turned into an incident.
    retry_on: tuple[type[BaseException], ...] = (
        TransientError,
        SoftTimeLimitExceeded,
        FlowLockFailed,
        OperationalError,
        InterfaceError,
    )
    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError(f"Invalid retry policy {self}")

    def retries(self, exc: BaseException, attempt: int) -> bool:
        return isinstance(exc, self.retry_on) and attempt < self.max_attempts

    def delay(self, attempt: int) -> float:
        """Seconds before attempt `attempt + 1`: exponential, capped, with jitter in [50%, 100%]."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return round(ceiling * random.uniform(0.5, 1.0), 3)


@dataclass(frozen=True)
class JobCall:
    """What a job's code receives: the process, its task, the idempotency key, the attempt number."""

    activation: Any
    idempotency_key: str
    attempt: int = 1
    # Process fields the job set (save_process), written when the attempt finishes.
    process_fields: dict[str, Any] = field(default_factory=dict)

    @property
    def process(self) -> Any:
        return self.activation.process

    @property
    def task(self) -> Any:
        return self.activation.task

    def save_process(self, **fields: Any) -> None:
        """Set fields of the process: at once on `call.process`, in the database together with
        the step's DONE, under the short lock that finishes the attempt (the job itself runs
        unlocked). A failed attempt writes none of them; its retry sets them again."""
        for name, value in fields.items():
            setattr(self.process, name, value)
        self.process_fields.update(fields)


def job_send(
    activation_ref: str,
    external_task_id: str,
    correlation_id: str,
    *,
    countdown: float | None = None,
    time_limit: int | None = None,
) -> bool:
    """Send the job to run: inline after the running job of this worker's chain when it is due
    now and fits (processes/nodes/job_chain.py), else as a Celery message. False (and a log line)
    when the broker refuses the message."""
    job = QueuedJob(activation_ref, external_task_id, correlation_id, time_limit)
    if not countdown and chain_take(job):
        logger.info("job.enqueued_inline", task_ref=activation_ref, correlation_id=correlation_id)
        return True
    return job_publish(job, countdown=countdown)


def job_publish(job: QueuedJob, *, countdown: float | None = None) -> bool:
    """Publish the job's Celery message. Its Celery limits are the job's own plus
    JOB_CHAIN_SECONDS: inside a chain each attempt has its own limits (job_chain.attempt_limits)."""
    from processes.tasks import job_run

    options: dict[str, Any] = {
        "task_id": job.external_task_id,
        "headers": {"correlation_id": job.correlation_id},
    }
    if countdown:
        options["countdown"] = countdown
    if job.time_limit:
        chain = settings.JOB_CHAIN_SECONDS
        soft = job.time_limit + (HARD_LIMIT_MARGIN_SECONDS + chain if chain > 0 else 0)
        options["soft_time_limit"] = soft
        options["time_limit"] = soft + HARD_LIMIT_MARGIN_SECONDS
    try:
        job_run.apply_async(args=[job.activation_ref], **options)
    except Exception as exc:  # the broker is down: the sweep re-sends from the database later
        logger.warning(
            "job.enqueue_failed",
            task_ref=job.activation_ref,
            correlation_id=job.correlation_id,
            error=str(exc),
        )
        return False
    logger.info(
        "job.enqueued", task_ref=job.activation_ref, correlation_id=job.correlation_id, countdown=countdown
    )
    return True


def _now_iso() -> str:
    return timezone.now().isoformat()


class CeleryJobActivation(AbstractJobActivation):
    """Activation of a CeleryJob task: schedules on commit, retries, and resolves incidents."""

    @classmethod
    def create(cls, flow_task, prev_activation, token, data=None, seed=None):
        """viewflow's job task, its row and its link to the step before in one INSERT."""
        task = task_new(flow_task, prev_activation, token, data, seed, external_task_id=str(uuid.uuid4()))
        task_insert_linked(task, prev_activation.task)
        return cls(task)

    def _schedule(self, countdown: float = 0.0) -> None:
        """Record when the message is due and send it after commit."""
        data = self.task.data
        now = timezone.now()
        data["sent_at"] = now.isoformat()
        data["due_at"] = (now + timedelta(seconds=countdown)).isoformat()
        ref, task_id = self.ref(), self.task.external_task_id
        correlation_id, time_limit = correlation_id_of(self.process), self.flow_task.time_limit
        transaction.on_commit(
            lambda: job_send(ref, task_id, correlation_id, countdown=countdown, time_limit=time_limit)
        )

    @Activation.status.transition(source=STATUS.NEW, target=STATUS.SCHEDULED)
    def activate(self):
        self.task.data = self.task.data or {}
        # Stable across attempts and redeliveries, and kept when an incident is retried (revive).
        self.task.data.setdefault(
            "idempotency_key", f"{self.process.pk}:{self.flow_task.name}:{self.task.pk}"
        )
        self.task.data[ARMED_ON_FAILURE] = True  # its .OnError is made when it fails (JobErrorBoundary)
        self._schedule()
        if not chain_claim(self):  # else it starts in this same transaction, and is saved then
            self.task.save()

    @Activation.status.transition(source=STATUS.STARTED, target=STATUS.SCHEDULED)
    def retry_later(self, delay: float):
        """A failed attempt the retry policy covers: wait `delay` seconds, then try again."""
        self._schedule(countdown=delay)
        self.task.save()

    @Activation.status.transition(source=STATUS.ERROR, target=STATUS.DONE, permission=has_manage_permission)
    def skip(self):
        """Resolve an incident by going on without this step's result."""
        self.task.finished = timezone.now()
        self.task.save()

    @Activation.status.transition(
        source=[STATUS.NEW, STATUS.SCHEDULED, STATUS.ERROR],
        target=STATUS.CANCELED,
        permission=has_manage_permission,
    )
    def cancel(self):
        # No broker revoke: a message that still arrives finds the task CANCELED and does nothing.
        self.task.finished = timezone.now()
        self.task.save()

    def prepare_revived_task(self, task):
        """Retrying an incident: a new task, new message id, same idempotency key, fresh attempts."""
        super().prepare_revived_task(task)
        key = (self.task.data or {}).get("idempotency_key")
        task.data = {"idempotency_key": key, "revived_from": self.task.pk} if key else {}


class CeleryJob(
    flow_mixins.NodeDetailMixin,
    flow_mixins.NodeCancelMixin,
    flow_mixins.NodeUndoMixin,
    flow_mixins.NodeReviveMixin,
    AbstractJob,
):
    """A flow node whose work runs in a Celery worker: `CeleryJob(this.method, retry=..., time_limit=...)`.

    The method receives a JobCall and must be idempotent under its `idempotency_key`.
    """

    activation_class = CeleryJobActivation
    index_view_class = flow_views.IndexTaskView
    detail_view_class = flow_views.DetailTaskView
    cancel_view_class = flow_views.CancelTaskView
    undo_view_class = flow_views.UndoTaskView
    revive_view_class = flow_views.ReviveTaskView

    def __init__(
        self,
        handler: Callable[[JobCall], Any],
        *,
        retry: RetryPolicy | None = None,
        time_limit: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._handler = handler
        self.retry_policy = retry or RetryPolicy()
        self.time_limit = time_limit or settings.JOB_DEFAULT_TIME_LIMIT
        if self.time_limit <= 0:
            raise ValueError("time_limit must be positive")

    def _resolve(self, instance: Any) -> None:
        super()._resolve(instance)
        self._handler = this.resolve(instance, self._handler)

    def OnError(self, then: Any, code: Any = None, interrupting: bool = True, title: Any = None) -> CeleryJob:
        """viewflow's `.OnError`, with a boundary made only when the job fails (JobErrorBoundary)."""
        boundary = JobErrorBoundary(None, code=code, interrupting=interrupting).Next(then)
        if title is not None:
            boundary.Annotation(title=title)
        self._boundary_specs.append(("error", boundary))
        return self

    def run_handler(self, call: JobCall) -> Any:
        return self._handler(call)


def _attempts(task) -> list[dict[str, Any]]:
    return task.data.setdefault("attempts", [])


def _current_attempt_is_alive(task) -> bool:
    """The running attempt started less than the node's time limit (plus margin) ago."""
    attempts = (task.data or {}).get("attempts") or []
    if not attempts or "finished_at" in attempts[-1]:
        return False
    started = datetime.fromisoformat(attempts[-1]["started_at"])
    limit = task.flow_task.time_limit + HARD_LIMIT_MARGIN_SECONDS
    return timezone.now() - started < timedelta(seconds=limit)


def _finish_attempt(
    task, *, outcome: str, started: float, error: BaseException | None = None
) -> dict[str, Any]:
    attempt = _attempts(task)[-1]
    attempt.update(finished_at=_now_iso(), duration_s=round(time.monotonic() - started, 3), outcome=outcome)
    if error is not None:
        attempt["error"] = f"{type(error).__name__}: {error}"
    return attempt


@contextmanager
def _job_locked(flow_class: Any, process_pk: str, task_pk: str) -> Iterator[Any]:
    """The task's activation under the flow lock, or None when there is no such task: the task
    and its process read in the lock's own round trip (processes/locks.py `flow_locked`)."""
    with flow_locked(flow_class, process_pk, task_pk) as found:
        if found is None or found[1] is None:
            yield None
            return
        task, process = found
        task.process = process
        yield task.flow_task.activation_class(task)


def _finish_done(
    flow_class: Any, process_pk: str, task_pk: str, call: JobCall, started: float, activation_ref: str
) -> bool:
    """Short lock 2 after a successful attempt: the job's process fields, DONE, the next nodes.
    False when the task was finished elsewhere meanwhile (cancelled, skipped)."""
    with _job_locked(flow_class, process_pk, task_pk) as activation:
        if activation is None or not activation.execute.can_proceed():
            status = activation.task.status if activation is not None else None
            logger.info("job.finished_elsewhere", task_ref=activation_ref, status=status)
            return False
        if call.process_fields:
            process = activation.process
            for name, value in call.process_fields.items():
                setattr(process, name, value)
            process.save(update_fields=list(call.process_fields))
        _finish_attempt(activation.task, outcome="done", started=started)
        with chain_claims(process_pk):
            activation.execute()
        _fuse_next()
    return True


def job_execute(activation_ref: str, message_id: str | None = None) -> str:
    """Run one delivery of a job message in the worker. Returns what happened, for logs and tests.

    `message_id` is the Celery task id of the delivery; a message whose id is not the task's
    `external_task_id` (an old message for a task row that was since replaced) is ignored.
    """
    flow_ref, process_pk, task_pk = activation_ref.rsplit("/", 2)
    flow_class = import_flow_by_ref(flow_ref)

    with _job_locked(flow_class, process_pk, task_pk) as activation:  # short lock 1: SCHEDULED -> STARTED
        if activation is None:
            logger.warning("job.unknown_task", task_ref=activation_ref)
            return "unknown"
        begun = _attempt_begin(activation, activation_ref, message_id)
    if isinstance(begun, str):
        return begun
    return job_execute_started(activation_ref, begun)


def _attempt_begin(activation: Any, activation_ref: str, message_id: str | None) -> JobCall | str:
    """Under the flow lock: SCHEDULED -> STARTED with a new attempt recorded, or why not."""
    task = activation.task
    if message_id is not None and message_id != task.external_task_id:
        logger.warning("job.stale_message", task_ref=activation_ref, message_id=message_id)
        return "stale"
    correlation_bind(activation.process)
    if not activation.start.can_proceed():
        logger.info("job.skipped", task_ref=activation_ref, status=task.status)
        return "skipped"
    if task.status == STATUS.STARTED and _current_attempt_is_alive(task):
        logger.warning("job.duplicate_delivery", task_ref=activation_ref)
        return "duplicate"
    attempts = _attempts(task)
    if attempts and "finished_at" not in attempts[-1]:
        attempts[-1].update(finished_at=_now_iso(), outcome="lost", error="the worker stopped mid-attempt")
    attempts.append({"n": len(attempts) + 1, "started_at": _now_iso()})
    activation.start()
    return JobCall(activation=activation, idempotency_key=task.data["idempotency_key"], attempt=len(attempts))


def job_execute_started(activation_ref: str, call: JobCall) -> str:
    """Run an attempt whose start has committed: the job's code under its limits, then lock 2."""
    flow_ref, process_pk, task_pk = activation_ref.rsplit("/", 2)
    node = call.task.flow_task
    instruments.JOB_ATTEMPTS.labels(get_flow_ref(node.flow_class), node.name).inc()
    started = time.monotonic()
    with attempt_limits(activation_ref, node.time_limit):
        return _attempt_run(import_flow_by_ref(flow_ref), process_pk, task_pk, call, started, activation_ref)


def _fuse_next() -> None:
    """Inside lock 2, after DONE: start the job this commit made due that runs next in this
    worker's chain, so its own lock 1 is saved (ADR 0025). Its attempt commits with this step's
    DONE; a crash after that leaves it STARTED, for the sweep past its time limit."""
    activation = chain_claimed()
    if activation is None:
        return
    begun = _attempt_begin(activation, activation.ref(), None)
    if isinstance(begun, JobCall):
        chain_fused(activation.task.external_task_id, begun)
    else:  # not startable after all: keep it SCHEDULED, for the commit to queue or publish
        activation.task.save()


def _attempt_run(
    flow_class: Any, process_pk: str, task_pk: str, call: JobCall, started: float, activation_ref: str
) -> str:
    """The job's code, unlocked, then short lock 2: DONE and the next nodes, or the failure."""
    node, number = call.task.flow_task, call.attempt
    labels = (get_flow_ref(node.flow_class), node.name)
    try:
        node.run_handler(call)  # no lock held: operators can act on the process meanwhile
        finished = _finish_done(flow_class, process_pk, task_pk, call, started, activation_ref)
    except Exception as exc:
        instruments.JOB_DURATION.labels(*labels).observe(time.monotonic() - started)
        if isinstance(exc, OperationalError | InterfaceError) and not db_connection.in_atomic_block:
            # The handler's connection may be the broken one: lock 2 then opens a fresh one.
            db_connection.close_if_unusable_or_obsolete()
        # Short lock 2: another attempt later, or an incident. A busy lock when finishing is a
        # retried failure too (FlowLockFailed is in the default retry_on), as it was in the job.
        with _job_locked(flow_class, process_pk, task_pk) as activation:
            if activation is None or activation.task.status != STATUS.STARTED:
                return "skipped"
            attempt = _finish_attempt(activation.task, outcome="failed", started=started, error=exc)
            if node.retry_policy.retries(exc, number):
                delay = node.retry_policy.delay(number)
                attempt["retry_in_s"] = delay
                activation.retry_later(delay)
                audit_record(action="job.attempt_failed", task=activation.task, details=dict(attempt))
                outcome = "retry"
            else:
                activation.error(exc)  # ERROR: an incident, or the node's .OnError path
                outcome = "failed"
        logger.warning(
            "job.attempt_failed", task_ref=activation_ref, attempt=number, outcome=outcome, error=str(exc)
        )
        return outcome

    if not finished:
        return "skipped"
    instruments.JOB_DURATION.labels(*labels).observe(time.monotonic() - started)
    logger.info(
        "job.done", task_ref=activation_ref, attempt=number, duration_s=round(time.monotonic() - started, 3)
    )
    return "done"
