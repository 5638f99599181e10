"""The audit trail is append-only and travels with the state change it records."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from processes.audit import acting_as, audit_record
from processes.models import AuditEvent
from processes.services import task_claim, task_delegate, task_reassign
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


def test_rows_cannot_be_changed_or_deleted(submit_request):
    event = AuditEvent.objects.filter(process=submit_request()).first()

    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.all().delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
def test_the_database_refuses_updates_and_deletes_on_postgresql(submit_request):
    event = AuditEvent.objects.filter(process=submit_request()).first()

    for statement in (
        "UPDATE processes_auditevent SET action = 'x' WHERE id = %s",
        "DELETE FROM processes_auditevent WHERE id = %s",
    ):
        with (
            pytest.raises(Exception, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [event.pk])


def test_a_rolled_back_change_leaves_no_audit_row(submit_request, olivia):
    process = submit_request()
    approve = task_of(process, "approve")
    before = AuditEvent.objects.count()

    with pytest.raises(RuntimeError), transaction.atomic():
        task_claim(task=approve, user=olivia)
        raise RuntimeError("boom")

    assert AuditEvent.objects.count() == before


def test_audit_record_takes_the_process_correlation_id_and_the_bound_actor(submit_request, olivia):
    process = submit_request()

    event = audit_record(action="purchase.note", process=process, actor=olivia, details={"note": "hi"})

    assert event.correlation_id == str(process.correlation_id)
    assert event.actor == olivia
    assert event.actor_name == "olivia"
    assert event.details == {"note": "hi"}


def test_audit_log_lines_carry_the_correlation_id(submit_request, caplog):
    import json
    import logging

    with caplog.at_level(logging.INFO, logger="processes.audit"):
        process = submit_request()

    lines = [r for r in caplog.records if r.name == "processes.audit"]
    assert lines
    for record in lines:
        payload = record.msg if isinstance(record.msg, dict) else json.loads(record.getMessage())
        assert payload["correlation_id"] == str(process.correlation_id)


# ---------------------------------------------------------------- reassign (ASSIGNED -> ASSIGNED)


def _reassigned(task) -> list[tuple[str, dict]]:
    return [
        (event.actor_name, event.details)
        for event in AuditEvent.objects.filter(task=task, action="task.reassigned").order_by("pk")
    ]


def _handed(owner: str, previous: str, delegated: bool) -> dict:
    return {
        "node": "approve",
        "node_type": "HUMAN",
        "from": "ASSIGNED",
        "to": "ASSIGNED",
        "owner": owner,
        "previous_owner": previous,
        "delegated": delegated,
    }


def test_viewflows_own_reassign_by_a_manager_is_audited_once_with_both_owners(
    submit_request, olivia, oscar, maria
):
    """Viewflow's reassign keeps the status; the hook still records who had the task and who has it."""
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)

    with acting_as(maria), task.activation() as activation:
        activation.reassign(user=oscar)

    assert _reassigned(task) == [("maria", _handed("oscar", "olivia", delegated=False))]


def test_viewflows_own_reassign_by_the_holder_is_a_delegation(submit_request, olivia, oscar):
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)

    with acting_as(olivia), task.activation() as activation:
        activation.reassign(oscar)

    assert _reassigned(task) == [("olivia", _handed("oscar", "olivia", delegated=True))]


def test_a_reassign_to_the_holder_changes_nothing_and_is_not_audited(submit_request, olivia, maria):
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)

    with acting_as(maria), task.activation() as activation:
        activation.reassign(user=olivia)
        activation.reassign()

    assert _reassigned(task) == []


def test_delegating_and_reassigning_through_the_services_write_one_row_each(
    submit_request, olivia, oscar, maria
):
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)

    task_delegate(task=task, user=olivia, to_user=oscar)
    task_reassign(task=task, user=maria, to_user=olivia)

    assert _reassigned(task) == [
        ("olivia", _handed("oscar", "olivia", delegated=True)),
        ("maria", _handed("olivia", "oscar", delegated=False)),
    ]


def test_a_manager_reassigning_a_task_she_holds_is_a_reassignment(roles, submit_request, olivia, maria):
    """The service says which use case it is: the team page's reassign is never a delegation."""
    maria.groups.add(roles["approvers"])
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=maria)

    task_reassign(task=task, user=maria, to_user=olivia)

    assert _reassigned(task) == [("maria", _handed("olivia", "maria", delegated=False))]


def test_viewflows_reassign_page_is_not_mounted_for_our_tasks(client, submit_request, olivia, maria):
    """No node sets `reassign_view_class`: hand-overs go through /tasks/<id>/delegate|reassign/."""
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)
    client.force_login(maria)

    assert client.get(f"/purchase/{task.process_id}/approve/{task.pk}/reassign/").status_code == 404
    assert client.get(f"/tasks/{task.pk}/reassign/").status_code == 200
