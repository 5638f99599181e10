"""A chain's next job runs in the worker that finished the one before (ADR 0025).

Why: between two jobs of a chain (order to cash: seven in a row) the message made a round trip
through the broker, and a worker process paid for publishing, receiving, acknowledging and
dispatching it: about a third of a job's cost. Now a job due at once, scheduled by the commit of
a job running in a worker, joins that worker's chain and runs right after the job before it,
through `job_execute` as a delivered message would. The first such job of the lock that finished
the one before starts in that lock (fused: `chain_claims`, `_fuse_next` in celery_job.py), which
saves its own first lock.

What keeps it safe:
- The job row is SCHEDULED with `sent_at` (or STARTED with its attempt, fused) before the commit
  that queues it, exactly as for a published message: a worker killed between two inline jobs
  leaves the rest to the stuck-job sweep.
- The first message is acknowledged at the chain's end (`acks_late`); a redelivery finds its job
  DONE and is "skipped".
- Each attempt gets its own limits here, not the message's: the soft one raises
  SoftTimeLimitExceeded in the job (a SIGALRM timer), the hard one `HARD_LIMIT_MARGIN_SECONDS`
  later kills the worker process (a watchdog thread), as Celery's hard limit would. The message
  carries Celery limits `JOB_CHAIN_SECONDS` longer, as a backstop, and a job joins the chain only
  if its own hard limit ends before that backstop's soft limit.
- Only in a prefork worker's process (the main thread runs the task): elsewhere, and with
  `JOB_CHAIN_SECONDS=0`, every job is published and runs under the message's limits.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from celery.exceptions import SoftTimeLimitExceeded

logger = structlog.get_logger(__name__)

# The hard time limit comes this long after the soft one, so the job can record its failure.
HARD_LIMIT_MARGIN_SECONDS = 5


@dataclass(frozen=True)
class QueuedJob:
    activation_ref: str
    external_task_id: str
    correlation_id: str
    time_limit: int | None
    call: Any = None  # a JobCall when its attempt started in the commit that queued it (fused)


@dataclass
class _Chain:
    deadline: float  # time.monotonic() of the running message's soft limit (the backstop)
    queue: deque[QueuedJob] = field(default_factory=deque)
    # The process whose finishing lock runs, the job that lock will start, and the attempts
    # started so (by task id) until their commit queues them.
    lock_process: str | None = None
    claimed: Any = None
    fused: dict[str, Any] = field(default_factory=dict)

    def fits(self, time_limit: int | None) -> bool:
        if not time_limit:
            return False
        return time.monotonic() + time_limit + HARD_LIMIT_MARGIN_SECONDS <= self.deadline


_chain: _Chain | None = None


def chain_take(job: QueuedJob) -> bool:
    """Queue `job` to run in this worker after the running one: True when a chain runs here and
    the job's own hard limit ends before the running message's soft limit, or its attempt was
    started for this chain already (fused)."""
    if _chain is None:
        return False
    call = _chain.fused.pop(job.external_task_id, None)
    if call is None and not _chain.fits(job.time_limit):
        logger.info("job.chain_cut", task_ref=job.activation_ref, reason="time_limit")
        return False
    _chain.queue.append(replace(job, call=call))
    return True


@contextmanager
def chain_claims(process_pk: str) -> Iterator[None]:
    """While the lock that finishes a job of process `process_pk` activates the next nodes: a
    job they schedule due now may start in that lock (`chain_claim`). Nowhere else: a job
    scheduled on a failure path is saved SCHEDULED as always."""
    if _chain is None:
        yield
        return
    _chain.lock_process, _chain.claimed = str(process_pk), None
    try:
        yield
    finally:
        _chain.lock_process = None


def chain_claim(activation: Any) -> bool:
    """Whether `activation`, a job being scheduled due now, will start in the running lock (the
    first one of that lock's process whose limits fit). Its row is then saved once, STARTED."""
    if _chain is None or _chain.claimed is not None or _chain.lock_process is None:
        return False
    if str(activation.process.pk) != _chain.lock_process or not _chain.fits(activation.flow_task.time_limit):
        return False
    _chain.claimed = activation
    return True


def chain_claimed() -> Any:
    """The activation claimed while the running lock activated its next nodes, if any."""
    if _chain is None:
        return None
    claimed, _chain.claimed = _chain.claimed, None
    return claimed


def chain_fused(external_task_id: str, call: Any) -> None:
    """The attempt `call` started in the running transaction; its commit queues it."""
    if _chain is not None:
        _chain.fused[external_task_id] = call


def _soft_limit(signum: int, frame: object) -> None:
    raise SoftTimeLimitExceeded("the job's soft time limit")


def _hard_limit(activation_ref: str, seconds: float) -> None:
    logger.error("job.hard_time_limit", task_ref=activation_ref, seconds=seconds)
    os.kill(os.getpid(), signal.SIGKILL)  # as Celery's hard limit: the pool starts a new process


@contextmanager
def attempt_limits(activation_ref: str, time_limit: float) -> Iterator[None]:
    """The attempt's own soft and hard limits, inside a chain; nothing outside one (a job run in
    a test, or under Celery's limits alone)."""
    if _chain is None:
        yield
        return
    hard = threading.Timer(time_limit + HARD_LIMIT_MARGIN_SECONDS, _hard_limit, (activation_ref, time_limit))
    hard.daemon = True
    previous = signal.signal(signal.SIGALRM, _soft_limit)
    armed = time.monotonic()
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, time_limit)
    hard.start()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        hard.cancel()
        if previous_delay:  # someone else's timer (pytest-timeout's, say): it runs on
            left = previous_delay - (time.monotonic() - armed)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), previous_interval)


def chain_possible() -> bool:
    """Own limits need SIGALRM in the main thread: a prefork (or solo) worker process."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def job_chain_run(activation_ref: str, message_id: str | None, soft_limit: float | None) -> str:
    """Run a delivered job message, then the jobs its commits queued here. Returns the first
    job's outcome. `soft_limit` is the message's Celery soft limit (None: none, no chain)."""
    from django.conf import settings

    from processes.nodes.celery_job import job_execute, job_execute_started, job_publish

    global _chain
    if not soft_limit or settings.JOB_CHAIN_SECONDS <= 0 or _chain is not None or not chain_possible():
        return job_execute(activation_ref, message_id=message_id)
    _chain = chain = _Chain(deadline=time.monotonic() + soft_limit)
    try:
        outcome = job_execute(activation_ref, message_id=message_id)
        while chain.queue:
            job = chain.queue.popleft()
            chain.fused.clear()  # attempts a rolled-back lock started are not this chain's
            chain.lock_process, chain.claimed = None, None
            if job.call is not None:
                job_execute_started(job.activation_ref, job.call)
            else:
                job_execute(job.activation_ref, message_id=job.external_task_id)
    finally:
        _chain = None
        # A job that raised out of its run (a lost database, say) ends the chain: what it queued
        # goes to the broker rather than waiting for the sweep.
        for job in chain.queue:
            job_publish(job)
    return outcome
