"""The automated steps' query budget (issue 16): every job of an order, delivered as the worker
does (`job_execute` with the message's id, in autocommit, no test transaction around it), held
to the number of statements it takes today. A change that adds statements to a job fails here
and must either pay them back or raise the budget on purpose (and say why in its commit), with
bench/order_to_cash.py's figures beside it (docs/benchmarks.md, "order_to_cash")."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.nodes.celery_job import job_execute
from processes.nodes.job_chain import job_chain_run
from processes.orders.models import OrderProcess

# Autocommit, as in the worker: a test transaction would turn every BEGIN/COMMIT into savepoints.
pytestmark = pytest.mark.django_db(transaction=True)

#: Statements per job on PostgreSQL, measured on 2026-12-03 (49 a job before, 343 an order). Each
#: job: two short flow locks of 7 statements each (processes/locks.py: BEGIN, the lock_timeout
#: savepoint dance, SELECT ... FOR UPDATE, COMMIT), the task and the process read under each,
#: the STARTED and DONE writes with their audit rows, the boundary event viewflow cancels and the
#: next node's creation; plus the connector's own statements (the fault settings, the insert under
#: the idempotency key). SQLite takes fewer (no row lock). A job may take up to SLACK fewer
#: before the budget must come down with it. With the flow lock in one round trip and a lock
#: block's audit rows in one INSERT (processes/locks.py, processes/audit.py): 36 -> 25.6 a job.
#: The `.OnError` boundary disarmed without reloading the process (processes/nodes/boundaries.py):
#: 2 fewer on the four steps that have one, 179 -> 171 an order. The task and the process read in
#: the lock's own round trip (processes/locks.py `reading`): 4 fewer a job, 171 -> 143 (2026-12-04).
#: The `.OnError` boundary made only when its job fails (JobErrorBoundary): no boundary task
#: inserted, linked, read and cancelled beside each of the four steps that have one, 143 -> 129
#: an order (2026-12-05, eighth session). Each next job's row inserted with its link to the step
#: before, and an If's row written once when it completes (processes/nodes/rows.py, ADR 0030):
#: 129 -> 121 (2026-12-06).
BUDGET = {
    "authorize_payment": 15,
    "check_fraud": 17,
    "capture_payment": 16,
    "reserve_inventory": 19,
    "calculate_shipping": 15,
    "send_confirmation": 15,
    "ship_order": 24,
}
SLACK = 3
#: The same seven jobs as one chain in one worker (ADR 0025): the first message, then six jobs
#: each started in the commit of the one before, so six first locks fewer, and each of those six
#: saved once, STARTED, not SCHEDULED then STARTED (2026-12-05). No armed error boundaries: 99.
#: Rows inserted with their links, and the If's written once (2026-12-06): 91.
CHAIN_BUDGET = 91
#: Elsewhere (SQLite) the lock cannot carry the reads: the task and the process cost a statement
#: each under each lock, two locks a job unchained, eight for the chain.
READS_PER_LOCK = 2
#: And a new task's link to the step before is an INSERT of its own there (ADR 0030): one or two
#: a job (the next job, a gateway), seven for the chain.
LINKS_PER_JOB, LINKS_PER_CHAIN = 2, 7


def _over_postgresql(locks: int, links: int = LINKS_PER_JOB) -> int:
    return 0 if connection.vendor == "postgresql" else READS_PER_LOCK * locks + links


def _deliver_all(process) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _ in range(len(BUDGET) + 1):
        job = Task.objects.filter(process=process, flow_task_type="JOB", status=STATUS.SCHEDULED).first()
        if job is None:
            return counts
        ref = job.flow_task.activation_class(job).ref()
        with CaptureQueriesContext(connection) as captured:
            outcome = job_execute(ref, message_id=job.external_task_id)
        assert outcome == "done", (job.flow_task.name, outcome)
        counts[job.flow_task.name] = len(captured)
    raise AssertionError(f"more jobs than budgeted: {counts}")


def test_every_job_of_an_order_stays_within_its_query_budget(place_order):
    _deliver_all(place_order())  # the first order creates the fault settings and the order policy
    process = place_order()
    counts = _deliver_all(process)

    process = OrderProcess.objects.get(pk=process.pk)
    assert process.outcome == OrderProcess.Outcome.COMPLETED
    assert process.authorization_ref
    assert process.capture_ref
    assert process.shipment_ref
    assert Task.objects.filter(process=process, flow_task_type="WAIT", status=STATUS.SCHEDULED).exists()
    assert set(counts) == set(BUDGET)
    budget = {job: count + _over_postgresql(2) for job, count in BUDGET.items()}
    assert all(count <= budget[job] for job, count in counts.items()), f"over the budget {budget}: {counts}"
    if connection.vendor == "postgresql":
        for job, count in counts.items():
            assert count >= BUDGET[job] - SLACK, (
                f"{job} takes only {count} statements: lower its budget {counts}"
            )


def test_a_repeated_delivery_writes_nothing_twice(place_order):
    """The cheaper connector path (insert first) still answers a repeat with the first record."""
    from processes.connectors.models import PaymentOperation
    from processes.connectors.services import payment_authorize

    process = place_order()
    first = payment_authorize(key="k-1", order_ref=process.order_ref, amount=process.total, currency="EUR")
    again = payment_authorize(key="k-1", order_ref=process.order_ref, amount=process.total, currency="EUR")
    assert again.pk == first.pk
    assert again.reference == first.reference
    assert PaymentOperation.objects.filter(idempotency_key="k-1").count() == 1


def test_an_orders_chain_stays_within_its_query_budget(place_order):
    """The worker's path: one message, the six later jobs inline with their starts fused."""
    _deliver_all(place_order())
    sent: list[tuple[str, dict]] = []
    with (
        mock.patch(
            "processes.tasks.job_run.apply_async", side_effect=lambda args, **o: sent.append((args[0], o))
        ),
        mock.patch("processes.tasks.carrier_callback.apply_async"),
    ):
        process = place_order()
        (ref, options), *_ = sent
        with CaptureQueriesContext(connection) as captured:
            outcome = job_chain_run(ref, message_id=options["task_id"], soft_limit=options["soft_time_limit"])

    assert outcome == "done"
    assert len(sent) == 1  # nothing else went to the broker
    assert OrderProcess.objects.get(pk=process.pk).outcome == OrderProcess.Outcome.COMPLETED
    budget = CHAIN_BUDGET + _over_postgresql(8, LINKS_PER_CHAIN)
    assert len(captured) <= budget, f"over the chain's budget {budget}: {len(captured)}"
    if connection.vendor == "postgresql":
        assert len(captured) >= CHAIN_BUDGET - SLACK, f"only {len(captured)}: lower CHAIN_BUDGET"
