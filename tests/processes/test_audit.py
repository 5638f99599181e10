"""The audit trail is append-only and travels with the state change it records."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from processes.audit import audit_record
from processes.models import AuditEvent
from processes.services import task_claim
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
