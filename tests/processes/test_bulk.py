"""Rows inserted together with their columns written as array texts (processes/bulk.py): every
value reads back as `bulk_create` writes it, however it is quoted, in one statement with the
primary keys set in order; anything else goes through `bulk_create`."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from processes.bulk import array_text, rows_insert
from processes.models import AuditEvent

pytestmark = pytest.mark.django_db

AWKWARD = [
    'quote " and backslash \\ and \\" both',
    "{braces}, commas, and NULL",
    "NULL",
    "",
    "  spaces kept  ",
    "Ünïcödé ✓ 日本語",
    "new\nline\ttab",
]


def _events(actor) -> list[AuditEvent]:
    now = timezone.now()
    return [
        AuditEvent(
            created_at=now - timedelta(microseconds=index),
            actor=actor if index % 2 else None,
            actor_name=text,
            action=f"test.{index}",
            correlation_id=str(uuid.uuid4()) if index % 3 else "",
            details={"text": text, "nested": {"list": [1, None, True, text]}, "n": index} if index else {},
        )
        for index, text in enumerate(AWKWARD)
    ]


def _read(rows) -> list[tuple]:
    fields = ["created_at", "actor_id", "actor_name", "action", "correlation_id", "details"]
    return list(
        AuditEvent.objects.filter(pk__in=[row.pk for row in rows]).order_by("pk").values_list(*fields)
    )


def test_every_value_reads_back_as_bulk_create_writes_it(alice):
    ours, djangos = _events(alice), _events(alice)
    for mine, theirs in zip(ours, djangos, strict=True):
        theirs.created_at, theirs.correlation_id = mine.created_at, mine.correlation_id
    with CaptureQueriesContext(connection) as captured:
        rows_insert(AuditEvent, ours)
    AuditEvent.objects.bulk_create(djangos)
    assert len(captured) == 1
    assert all(row.pk is not None and not row._state.adding for row in ours)
    assert [row.pk for row in ours] == sorted(row.pk for row in ours)  # in the order given
    assert _read(ours) == _read(djangos)
    assert [row[2] for row in _read(ours)] == AWKWARD


def test_one_row_goes_in_the_same_way_and_a_value_json_refuses_is_refused(alice):
    (single,) = rows_insert(AuditEvent, _events(alice)[:1])
    assert AuditEvent.objects.get(pk=single.pk).actor_name == AWKWARD[0]
    odd = _events(alice)[:2]
    odd[1].details = {"when": object()}  # not JSON: bulk_create's own error, not a wrong row
    with pytest.raises(TypeError):
        rows_insert(AuditEvent, odd)


def test_an_array_text_quotes_every_element():
    assert array_text([None, True, 3, 'a"b\\c', "{x,y}"]) == '{NULL,"t","3","a\\"b\\\\c","{x,y}"}'
    with pytest.raises(Exception, match="object"):
        array_text([object()])


def test_a_row_inserted_once_stands_back_for_the_row_holding_its_key(submit_request):
    from django.db.models.signals import post_save

    from processes.bulk import row_insert_once
    from processes.purchase.models import PurchaseOrder

    process = submit_request()
    saved = []

    def heard(sender, instance, created, **kwargs):
        saved.append((instance.pk, created))

    post_save.connect(heard, sender=PurchaseOrder, dispatch_uid="test_bulk.heard")
    try:
        first = PurchaseOrder(process=process, number="PO-1", idempotency_key="k-1")
        again = PurchaseOrder(process=process, number="PO-2", idempotency_key="k-1")
        assert row_insert_once(first, unique="idempotency_key") is True
        assert row_insert_once(again, unique="idempotency_key") is False
    finally:
        post_save.disconnect(dispatch_uid="test_bulk.heard")

    assert first.pk is not None
    assert not first._state.adding
    assert again.pk is None  # not written, nothing set
    assert again._state.adding
    assert saved == [(first.pk, True)]  # as save() tells, once
    assert list(PurchaseOrder.objects.values_list("number", flat=True)) == ["PO-1"]
    with pytest.raises(TypeError, match="not unique"):
        row_insert_once(
            PurchaseOrder(process=process, number="PO-3", idempotency_key="k-3"), unique="created_at"
        )
