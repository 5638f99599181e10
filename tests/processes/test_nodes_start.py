"""The start nodes (processes/nodes/start.py): a start from a form opens no savepoint of its own,
in its view or in its start; the request's transaction holds it, so a start that fails leaves
nothing behind, and one that succeeds is the same request as before."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver

from processes.models import AuditEvent
from processes.purchase import services as purchase_services
from processes.purchase.flows import PurchaseFlow
from processes.purchase.models import PurchaseProcess
from tests.conftest import task_of

pytestmark = pytest.mark.django_db

FORM = {"title": "Standing desk", "amount": "640.00", "currency": "EUR", "justification": "Back pain."}


def _submit(alice) -> tuple[object, list[str]]:
    assert get_resolver().url_patterns  # viewflow reverses only once the URLconf is loaded
    client = Client()
    client.force_login(alice)
    with CaptureQueriesContext(connection) as captured:
        response = client.post(PurchaseFlow.start.reverse("execute"), FORM)
    return response, [query["sql"] for query in captured]


def test_a_start_from_a_form_opens_savepoints_only_for_its_service_and_the_lock(purchase_policy, alice):
    response, statements = _submit(alice)

    assert response.status_code == 302
    process = PurchaseProcess.objects.get(title="Standing desk")
    assert task_of(process, "approve").status == "NEW"
    savepoints = [sql for sql in statements if sql.lstrip().startswith("SAVEPOINT")]
    # The test's transaction makes the request's own block one more (in use, it is the
    # transaction); purchase_request_submit's, and the flow lock's. Neither the view nor the
    # start opens one.
    assert len(savepoints) == 3


def test_a_start_that_fails_after_its_process_was_written_leaves_nothing(purchase_policy, alice, monkeypatch):
    def failing(*, process):
        raise RuntimeError("no route today")

    monkeypatch.setattr(purchase_services, "purchase_stage_next", failing)
    with pytest.raises(RuntimeError, match="no route today"):
        _submit(alice)

    assert not PurchaseProcess.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="purchase.").exists()
    assert connection.get_autocommit() is False  # the test's transaction, still usable
    assert not connection.needs_rollback
