"""A catalog request's end: `process.completed` once, with the request's outcome (the catalog's
receiver of `request_finished` adds it in the decision's transaction)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import get_resolver

from processes.catalog.models import Outcome, ProcessType
from processes.catalog.services import catalog_request_start, catalog_task_decide
from processes.services import task_claim
from processes.webhooks.models import WebhookDelivery
from tests.conftest import task_of
from tests.processes.catalog.conftest import expense_type_define

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _urls():
    assert get_resolver().url_patterns  # viewflow reverses only once the URLconf is loaded


@pytest.mark.parametrize(("approved", "outcome"), [(True, "approved"), (False, "rejected")])
def test_the_outcome_rides_on_process_completed(roles, maria, alice, olivia, endpoint, approved, outcome):
    expense = expense_type_define(maria)
    ProcessType.objects.filter(pk=expense.pk).update(on_approved=Outcome.WEBHOOK, on_rejected=Outcome.WEBHOOK)
    expense.refresh_from_db()
    process = catalog_request_start(
        process_type=expense,
        requester=alice,
        values={"title": "Taxi", "amount": Decimal("42.50"), "category": "Travel"},
    )
    task = task_of(process, "approve")
    task_claim(task=task, user=olivia)
    task.refresh_from_db()
    catalog_task_decide(task=task, user=olivia, approved=approved, comment="ok")

    rows = WebhookDelivery.objects.filter(process_id=process.pk)
    [completed] = rows.filter(event_type="process.completed")
    data = completed.payload["data"]
    assert data["outcome"] == outcome
    assert data["on_finish"] == "webhook"
    assert data["type_slug"] == "expense-claim"
    assert data["process_type"] == {
        "label": "catalog",
        "title": data["process_type"]["title"],
        "kind": "Expense claim",
    }
    assert "Taxi" not in str(completed.payload)
    decided = rows.get(event_type="task.decided").payload["data"]
    assert decided["decision"] == outcome
