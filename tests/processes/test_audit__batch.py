"""The audit rows a flow-lock block records go in as one INSERT, in that block's transaction.

Batching must not change what the trail says: a rollback (of the transaction or of a savepoint
inside the block) drops the rows recorded in it and only those, a read of the trail inside the
block sees every row recorded before it, and the order is the order of recording.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from processes.audit import audit_batch, audit_record
from processes.models import AuditEvent

pytestmark = pytest.mark.django_db


def _actions() -> list[str]:
    return list(AuditEvent.objects.filter(action__startswith="t.").values_list("action", flat=True))


def _inserts(captured) -> int:
    return sum(
        1 for q in captured.captured_queries if q["sql"].startswith('INSERT INTO "processes_auditevent"')
    )


def test_a_block_writes_its_rows_in_one_insert_in_recording_order():
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        with audit_batch():
            for n in range(5):
                audit_record(action=f"t.{n}")
            assert _inserts(captured) == 0
        assert _inserts(captured) == 1

    assert _actions() == ["t.0", "t.1", "t.2", "t.3", "t.4"]
    stamps = list(
        AuditEvent.objects.filter(action__startswith="t.").order_by("pk").values_list("created_at", flat=True)
    )
    assert stamps == sorted(stamps)


def test_a_read_of_the_trail_inside_the_block_sees_the_rows_recorded_before_it():
    with transaction.atomic(), audit_batch():
        audit_record(action="t.one")
        assert _actions() == ["t.one"]
        audit_record(action="t.two")
    assert _actions() == ["t.one", "t.two"]


def test_a_rolled_back_transaction_leaves_none_of_the_rows():
    with pytest.raises(RuntimeError), transaction.atomic(), audit_batch():
        audit_record(action="t.lost")
        raise RuntimeError("boom")
    assert _actions() == []


def test_a_rolled_back_savepoint_drops_only_the_rows_recorded_in_it():
    with transaction.atomic(), audit_batch():
        audit_record(action="t.before")
        with pytest.raises(RuntimeError), transaction.atomic():
            audit_record(action="t.inside")
            raise RuntimeError("boom")
        audit_record(action="t.after")
    assert _actions() == ["t.before", "t.after"]


def test_a_row_inserted_early_inside_a_savepoint_that_rolls_back_is_written_again():
    # "t.before" is recorded outside the savepoint; the read inside it inserts it there; the
    # rollback removes it from the table, and the block must write it again.
    with transaction.atomic(), audit_batch():
        audit_record(action="t.before")
        with pytest.raises(RuntimeError), transaction.atomic():
            audit_record(action="t.inside")
            assert _actions() == ["t.before", "t.inside"]
            raise RuntimeError("boom")
        audit_record(action="t.after")
    assert _actions() == ["t.before", "t.after"]


def test_nested_blocks_join_the_outer_one():
    with transaction.atomic(), CaptureQueriesContext(connection) as captured, audit_batch():
        audit_record(action="t.outer")
        with transaction.atomic(), audit_batch():
            audit_record(action="t.inner")
        assert _inserts(captured) == 0
    assert _inserts(captured) == 1
    assert _actions() == ["t.outer", "t.inner"]


@pytest.mark.django_db(transaction=True)
def test_a_block_needs_a_transaction():
    with pytest.raises(TransactionManagementError), audit_batch():
        pass


def test_outside_a_block_each_row_is_written_at_once():
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        event = audit_record(action="t.now")
        assert event.pk is not None
    assert _inserts(captured) == 1
