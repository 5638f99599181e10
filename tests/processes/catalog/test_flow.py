"""Requests of a process type defined as data run through the one generic flow: the pinned
version's chain, stage by stage where its condition holds; the requester hears of the end."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from viewflow.workflow.status import STATUS

from processes.catalog.models import CatalogRequest
from processes.catalog.services import catalog_request_start, catalog_task_decide
from processes.models import AuditEvent
from processes.services import task_claim
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


def _decide(process, user, approved=True, comment="ok"):
    task = task_of(process, "approve")
    task_claim(task=task, user=user)
    task.refresh_from_db()
    return catalog_task_decide(task=task, user=user, approved=approved, comment=comment)


def test_small_claim_needs_the_approvers_only(expense_type, alice, olivia):
    process = catalog_request_start(
        process_type=expense_type,
        requester=alice,
        values={"title": "Taxi", "amount": Decimal("42.50"), "category": "Travel"},
    )
    assert process.values == {
        "title": "Taxi",
        "amount": {"amount": "42.50", "currency": "EUR"},
        "category": "Travel",
    }
    assert process.subject == "Expense claim: Taxi"
    assert (process.amount, process.currency) == (Decimal("42.50"), "EUR")
    assert [stage.name for stage in process.chain()] == ["Approval"]
    _decide(process, olivia)
    process.refresh_from_db()
    assert process.status == STATUS.DONE
    assert process.approved is True
    actions = list(AuditEvent.objects.filter(process=process).values_list("action", flat=True))
    assert "catalog.version_pinned" in actions
    assert "catalog.finished" in actions


def test_large_claim_goes_on_to_finance(expense_type, alice, olivia, frank):
    process = catalog_request_start(
        process_type=expense_type,
        requester=alice,
        values={"title": "Laptop", "amount": Decimal("1200"), "category": "Equipment"},
    )
    assert [stage.name for stage in process.chain()] == ["Approval", "Finance"]
    _decide(process, olivia)
    process = CatalogRequest.objects.get(pk=process.pk)
    assert process.current_stage.name == "Finance"
    _decide(process, frank, approved=False, comment="Not in budget")
    process.refresh_from_db()
    assert process.status == STATUS.DONE
    assert process.approved is False


def test_only_starter_groups_may_start(expense_type, olivia):
    with pytest.raises(PermissionDenied):
        catalog_request_start(process_type=expense_type, requester=olivia, values={"title": "x"})


def test_unknown_values_are_refused(expense_type, alice):
    with pytest.raises(ValidationError):
        catalog_request_start(
            process_type=expense_type, requester=alice, values={"title": "x", "hack": "2026-12-24"}
        )


def test_the_outcome_notifies_emails_and_signals_once(expense_type, alice, olivia):
    from processes.catalog.signals import request_finished
    from processes.mail.models import OutgoingEmail
    from processes.models import Notification

    expense_type.on_rejected = "email"
    expense_type.save()
    heard = []

    def listener(sender, process, approved, outcome, **kwargs):
        heard.append((process.pk, approved, outcome))

    request_finished.connect(listener)
    try:
        process = catalog_request_start(
            process_type=expense_type, requester=alice, values={"title": "Taxi", "amount": Decimal("9")}
        )
        _decide(process, olivia, approved=False, comment="Take the bus")
    finally:
        request_finished.disconnect(listener)
    assert heard == [(process.pk, False, "email")]
    assert Notification.objects.filter(user=alice, process=process, kind="request.rejected").count() == 1
    (mail,) = OutgoingEmail.objects.filter(to_user=alice)
    assert "rejected" in mail.subject
    assert AuditEvent.objects.filter(process=process, action="catalog.finished").count() == 1


def test_a_requester_never_decides_her_own_request(expense_type, alice, roles):
    """Segregation of duties holds for catalog types too: the gate asks the descriptor who
    started the request (its requester)."""
    from processes.gate import GateDenied

    alice.groups.add(roles["approvers"])
    alice = type(alice).objects.get(pk=alice.pk)  # her rights afresh
    process = catalog_request_start(
        process_type=expense_type, requester=alice, values={"title": "Own", "amount": Decimal("9")}
    )
    with pytest.raises(GateDenied):
        task_claim(task=task_of(process, "approve"), user=alice)
