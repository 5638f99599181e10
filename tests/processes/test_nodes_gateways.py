"""The If and Function nodes (processes/nodes/gateways.py): a savepoint of their own only where
their error is kept on the task; where it propagates, the flow lock's block rolls back whole.
Their rows (and a job's) are written with their links in one statement, an If's once, finished
(processes/nodes/rows.py, ADR 0030): the graph, the history and the audit trail stay the same.
A Route (the stage chains' `route` and `check_approved`) is a Function and the If or Switch after
it in one step (ADR 0034)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from viewflow.workflow.context import Context
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.audit import AuditEvent
from processes.policies.chain import StagedProcess
from processes.purchase import services as purchase_services
from processes.purchase.flows import PurchaseFlow
from processes.purchase.models import PurchaseProcess
from processes.purchase.services import purchase_decide
from processes.services import task_claim, task_executing
from tests.conftest import task_of

pytestmark = pytest.mark.django_db

# A person's approval passes one of these nodes: check_approved (a Route: it moves an approved
# request to its next stage, then reads `rejected` and `has_stage`).
GATES_PASSED = 1


def _unreadable(self) -> bool:
    raise RuntimeError("the stage chain is unreadable")


def _claimed(submit_request, olivia) -> Task:
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)
    return task


def _decide(task: Task, user) -> list[str]:
    """Approve `task` as `user` in a transaction of its own; the savepoints it opened."""
    with (
        CaptureQueriesContext(connection) as captured,
        transaction.atomic(),
        task_executing(task=task, user=user) as activation,
    ):
        purchase_decide(activation=activation, user=user, approved=True, comment="")
    return [query["sql"] for query in captured if query["sql"].startswith("SAVEPOINT")]


def test_the_gates_of_a_decision_open_a_savepoint_only_where_their_error_is_kept(
    purchase_policy, submit_request, olivia
):
    propagating = _decide(_claimed(submit_request, olivia), olivia)
    with Context(propagate_exception=False):
        quiet = _decide(_claimed(submit_request, olivia), olivia)
    assert len(quiet) - len(propagating) == GATES_PASSED


def test_a_gate_that_fails_in_a_decision_rolls_the_whole_decision_back(
    purchase_policy, submit_request, olivia, monkeypatch
):
    task = _claimed(submit_request, olivia)
    monkeypatch.setattr(StagedProcess, "has_stage", property(_unreadable))
    with pytest.raises(RuntimeError, match="unreadable"):
        _decide(task, olivia)

    # The transaction around it is usable (nothing left marked for rollback) and holds nothing
    # of the decision: the task is still olivia's, no gate ran, the process is undecided.
    task.refresh_from_db()
    assert task.status == STATUS.ASSIGNED
    assert not Task.objects.filter(process_id=task.process_id, flow_task=PurchaseFlow.check_approved).exists()
    assert PurchaseProcess.objects.get(pk=task.process_id).approved is None


def test_where_a_gate_keeps_its_error_the_work_before_it_stays(
    purchase_policy, submit_request, olivia, monkeypatch
):
    """check_approved's condition fails in the quiet mode, after its callback moved the request
    on: the callback's work goes back with the step's savepoint, the decision before it stays."""
    task = _claimed(submit_request, olivia)
    stage_before = PurchaseProcess.objects.get(pk=task.process_id).stage_order
    monkeypatch.setattr(StagedProcess, "has_stage", property(_unreadable))
    with Context(propagate_exception=False):
        _decide(task, olivia)

    gate = task_of(task.process, "check_approved")
    assert gate.status == STATUS.ERROR
    assert "unreadable" in gate.data["_exception"]["title"]
    assert list(gate.previous.all()) == [task_of(task.process, "approve")]  # its row is linked
    assert gate.finished is not None
    assert task_of(task.process, "approve").status == STATUS.DONE
    process = PurchaseProcess.objects.get(pk=task.process_id)
    assert (process.approved, process.stage_order) == (True, stage_before)  # the move rolled back
    assert (
        not AuditEvent.objects.filter(process_id=task.process_id, action="purchase.stage_entered")
        .exclude(details__stage=stage_before)
        .exists()
    )


def _walk_back(task: Task) -> list[str]:
    """The node names from `task` back to the start, along viewflow's `previous` links."""
    names = []
    while task is not None:
        names.append(task.flow_task.name)
        task = task.previous.first()
    return names


def test_a_finished_request_keeps_the_whole_graph_of_its_steps(purchase_policy, submit_request, olivia):
    task = _claimed(submit_request, olivia)
    _decide(task, olivia)

    order_step = task_of(task.process, "create_order")
    assert _walk_back(order_step) == ["create_order", "check_approved", "approve", "route", "start"]
    gates = Task.objects.filter(
        process_id=task.process_id, flow_task_type__in=["EXCLUSIVE_GATEWAY", "SWITCH"]
    )
    assert gates.count() == 2
    for gate in gates:
        assert gate.status == STATUS.DONE
        assert gate.created is not None
        assert gate.finished is not None
        assert gate.created <= gate.finished
        # The audit trail names the gate's row in its "created" and "completed" events.
        assert set(AuditEvent.objects.filter(task_id=gate.pk).values_list("action", flat=True)) == {
            "task.created",
            "task.completed",
        }
    assert order_step.external_task_id  # a job's own id, as viewflow gives it
    assert order_step.data["idempotency_key"].endswith(f":{order_step.pk}")


def test_an_if_row_is_written_once_and_each_link_with_its_row(purchase_policy, submit_request, olivia):
    """A decision's steps after the person's task: check_approved (a Route) and create_order
    (job). On PostgreSQL each of their rows goes in with its link in one INSERT, and the Route's
    row is never updated; elsewhere row and link are two."""
    task = _claimed(submit_request, olivia)
    with CaptureQueriesContext(connection) as captured:
        _decide(task, olivia)
    statements = [query["sql"] for query in captured]
    inserted = [sql for sql in statements if 'INSERT INTO "viewflow_task"' in sql]
    links = [
        sql for sql in statements if 'INTO "viewflow_task_previous"' in sql and not sql.startswith("WITH")
    ]
    # The gateways' rows: the two Routes'.
    gates = Task.objects.filter(
        process_id=task.process_id, flow_task_type__in=["EXCLUSIVE_GATEWAY", "SWITCH", "FUNCTION"]
    )
    assert {gate.flow_task.name for gate in gates} == {"route", "check_approved"}
    updated_gates = [
        sql
        for sql in statements
        if sql.startswith('UPDATE "viewflow_task"')
        and any(f'"viewflow_task"."id" = {gate.pk}' in sql for gate in gates)
    ]

    assert len(inserted) == 2
    assert updated_gates == []
    if connection.vendor == "postgresql":
        assert all(sql.startswith("WITH t AS (INSERT INTO") for sql in inserted)
        assert links == []
    else:
        assert len(links) == 2


def test_a_stage_task_is_routed_before_its_row_is_written(purchase_policy, submit_request):
    """A DeadlineView's task routed by `stage_route` (processes/nodes/deadline.py): its row, its
    link and its task-list row are written once, with the stage's group already; nothing is
    updated after."""
    from processes.tasklist.models import TaskRow

    with CaptureQueriesContext(connection) as captured:
        process = submit_request()
    task = task_of(process, "approve")
    statements = [query["sql"] for query in captured]

    stage = purchase_policy.stages.get(order=1)
    assert task.owner_permission == stage.permission
    assert task.data["stage_name"] == stage.name
    assert list(task.previous.all()) == [task_of(process, "route")]
    assert TaskRow.objects.get(task=task).owner_permission == stage.permission
    assert not [
        sql for sql in statements if sql.startswith('UPDATE "viewflow_task"') and f"= {task.pk}" in sql
    ]
    assert not [sql for sql in statements if sql.startswith('UPDATE "processes_taskrow"')]
    assert len([sql for sql in statements if 'INTO "processes_taskrow"' in sql]) == 1


def test_where_a_step_written_on_completion_keeps_its_error_its_row_is_linked(
    purchase_policy, submit_request, olivia, monkeypatch
):
    """check_approved's callback (a Route's row is written on completion) fails in the quiet
    mode: its row is written then, linked to the decision before it, and kept as ERROR, as
    viewflow leaves a failed step."""

    def failing(*, process) -> None:
        raise RuntimeError("no next stage today")

    task = _claimed(submit_request, olivia)
    monkeypatch.setattr(purchase_services, "purchase_stage_after_decision", failing)
    with Context(propagate_exception=False):
        _decide(task, olivia)

    route = task_of(task.process, "check_approved")
    assert route.status == STATUS.ERROR
    assert "no next stage today" in route.data["_exception"]["title"]
    assert list(route.previous.all()) == [task_of(task.process, "approve")]


def test_the_end_row_goes_in_with_its_link_and_finishes_the_process(purchase_policy, submit_request, olivia):
    """The End node (processes/nodes/end.py) of an approved request, in the purchase order job's
    finishing lock: its row, finished, with its link in one INSERT on PostgreSQL (never updated),
    and the process finished as viewflow finishes it. (A job runs quietly: the End keeps its
    savepoint there.)"""
    from viewflow.workflow.status import PROCESS

    from processes.nodes.celery_job import job_execute

    task = _claimed(submit_request, olivia)
    _decide(task, olivia)
    job = task_of(task.process, "create_order")
    with CaptureQueriesContext(connection) as captured:
        assert job_execute(job.flow_task.activation_class(job).ref()) == "done"
    end = task_of(task.process, "approved")

    assert end.status == STATUS.DONE
    assert list(end.previous.all()) == [job]
    assert PurchaseProcess.objects.get(pk=task.process_id).status == PROCESS.DONE
    statements = [query["sql"] for query in captured]
    ends = [sql for sql in statements if 'INTO "viewflow_task"' in sql]
    assert len(ends) == 1
    # Written once, finished: never updated after (viewflow updates it when it completes).
    assert not [
        sql for sql in statements if sql.startswith('UPDATE "viewflow_task"') and f'"id" = {end.pk}' in sql
    ]
    assert end.finished is not None
    assert end.started is not None
    if connection.vendor == "postgresql":
        assert ends[0].startswith("WITH t AS (INSERT INTO")


def test_the_end_finishes_the_process_only_when_no_other_task_is_open(submit_request, olivia):
    """`other_task_open` (the End's question, one statement planned once a connection): a task of
    the process other than the one asked about that has not finished."""
    from processes.nodes.end import other_task_open

    process = submit_request()
    approve = task_of(process, "approve")  # open
    start = task_of(process, "start")  # finished
    assert other_task_open(start) is True
    assert other_task_open(approve) is False
    unsaved = Task(process=process, flow_task=approve.flow_task)  # no row yet: every open task counts
    assert other_task_open(unsaved) is True

    task_claim(task=approve, user=olivia)
    _decide(approve, olivia)  # approve finished; the purchase order job is the open one now
    job = task_of(process, "create_order")
    assert other_task_open(job) is False
    assert other_task_open(approve) is True


def test_a_request_routed_before_the_route_joined_its_gateway_still_shows(
    purchase_policy, submit_request, alice, admin_user, client
):
    """Requests routed before the Route node have a finished `has_next_stage` If after each
    `route` step (ADR 0034). The node is gone: viewflow loads such a row as its Obsolete node of
    that name, and the process page with its diagram, the next task's page and the API still
    show the request."""
    from processes.api.services import api_client_create
    from tests.processes.api.conftest import bearer

    process = submit_request()
    route = task_of(process, "route")
    old = Task.objects.create(
        process=process,
        flow_task="purchase/flows.PurchaseFlow.has_next_stage",
        flow_task_type="EXCLUSIVE_GATEWAY",
        status=STATUS.DONE,
        finished=route.finished,
    )
    old.previous.add(route)
    approve = task_of(process, "approve")
    approve.previous.set([old])  # as the old flow linked it: route, has_next_stage, approve
    old = Task.objects.get(pk=old.pk)
    assert (old.flow_task.name, old.flow_task.task_type) == ("has_next_stage", "OBSOLETE")
    assert old.status == STATUS.DONE  # nothing to cancel or run

    client.force_login(alice)
    page = client.get(PurchaseFlow.instance.reverse("process_detail", args=[process.pk]))
    assert page.status_code == 200
    assert "portal-diagram" in page.content.decode()
    client.force_login(admin_user)
    # The approval's page names the steps before it; the old gateway has no page of its own.
    detail = client.get(PurchaseFlow.approve.reverse("detail", args=[process.pk, approve.pk]))
    assert detail.status_code == 200
    assert "Has Next Stage" in detail.content.decode()  # viewflow's title from the node's name
    _api_client, token = api_client_create(name="reader", scopes=["processes:read"])
    response = bearer(token).get(f"/api/v1/processes/{process.pk}")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("status", [STATUS.ERROR, STATUS.NEW])
def test_the_migration_that_drops_a_node_stops_on_its_open_tasks(submit_request, status):
    """`node_retirement` (the plug-ins' migrations that drop `has_next_stage`): finished tasks of
    the node may stay, an unfinished one stops the migration with its id."""
    from django.apps import apps

    from processes.plugin_migrations import node_retirement

    process = submit_request()
    ref = "purchase/flows.PurchaseFlow.has_next_stage"
    check = node_retirement(refs=[ref]).code
    Task.objects.create(
        process=process, flow_task=ref, flow_task_type="EXCLUSIVE_GATEWAY", status=STATUS.DONE
    )
    check(apps, None)  # finished ones are history

    stranded = Task.objects.create(
        process=process, flow_task=ref, flow_task_type="EXCLUSIVE_GATEWAY", status=status
    )
    with pytest.raises(RuntimeError, match=rf"Tasks \[{stranded.pk}\] are still open at {ref}"):
        check(apps, None)


def test_the_retired_node_is_named_as_viewflow_stores_it():
    """The references the migrations name are the ones viewflow wrote for the node (its flow's
    app label, module and class), so the check sees the old rows."""
    from viewflow.workflow.fields import get_task_ref

    from processes.catalog.flows import CatalogFlow

    assert get_task_ref(PurchaseFlow.route) == "purchase/flows.PurchaseFlow.route"
    assert get_task_ref(CatalogFlow.route) == "catalog/flows.CatalogFlow.route"


def test_a_route_labels_its_cases_in_the_chart():
    """viewflow's chart labels a Switch's edges with nothing; a Route's carry their cases'
    labels, and its default none (BPMN marks it with a slash)."""
    from processes.catalog.flows import CatalogFlow

    def labelled(node) -> list[tuple[str, str]]:
        return [(edge.dst.name, str(edge.label)) for edge in node._outgoing()]

    assert labelled(PurchaseFlow.check_approved) == [
        ("revise", "no"),
        ("approve", "next stage"),
        ("create_order", ""),
    ]
    assert labelled(PurchaseFlow.route) == [("approve", "next stage"), ("create_order", "")]
    assert labelled(CatalogFlow.check_approved) == [
        ("rejected", "no"),
        ("approve", "next stage"),
        ("approved", ""),
    ]
