"""The indexes of the two tables every state change writes to (migration 0034, issue 16): each
row costs an insertion into each of them, so only those that serve a read are kept, and the reads
they serve use them."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's catalog and plans"),
]


def _indexes(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
        return {name for (name,) in cursor.fetchall()}


def _plan(sql: str, params: list) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # empty tables: ask which index it would use
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_audit_trail_keeps_the_indexes_its_reads_use():
    assert _indexes("processes_auditevent") == {
        "processes_auditevent_pkey",
        "audit_process_created",  # a process's history (process_id first)
        "processes_auditevent_task_id_91cd419a",  # a task's decision (action links)
        "processes_auditevent_action_ca855a3f",  # the admin's filter on action
        "processes_auditevent_correlation_id_44fe9257",  # one request's events by its id
        "processes_auditevent_created_at_908eb983",  # the admin's order and date hierarchy
    }


def test_notifications_keep_the_indexes_their_reads_use():
    assert _indexes("processes_notification") == {
        "processes_notification_pkey",
        "notification_user_id",  # a user's notifications (user_id first), catch-up by id
        "notification_user_unread",
        "processes_notification_process_id_5c096552",  # a process's deletion cascades
        "processes_notification_task_id_cac4db9a",
    }


def test_a_process_history_and_a_users_notifications_read_by_index():
    """The reads whose single-column index went: a process's history (by process), and the
    notification center's list and the live socket's catch-up (by user), each from its two-column
    index."""
    from processes.models import AuditEvent, Notification

    history = AuditEvent.objects.filter(process_id=1).order_by("created_at", "id")
    assert "audit_process_created" in _plan(*history.query.sql_with_params())
    recent = Notification.objects.filter(user_id=1)[:50]  # notifications_recent, newest first
    missed = Notification.objects.filter(user_id=1, id__gt=10).order_by("-id")  # the catch-up
    for read in (recent, missed):
        assert "notification_user_id" in _plan(*read.query.sql_with_params())
