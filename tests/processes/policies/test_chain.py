"""The approval chain's moves after a decision (processes/policies/chain.py)."""

from __future__ import annotations

import pytest

from processes.models import AuditEvent
from processes.policies.chain import chain_stage_after_decision
from processes.purchase.models import PurchaseProcess

pytestmark = pytest.mark.django_db


def _at_first_stage(submit_request) -> PurchaseProcess:
    process = PurchaseProcess.objects.get(pk=submit_request(amount="2400.00").pk)
    assert process.stage_order == 1  # the route step put it there
    return process


def test_a_rejection_leaves_the_chain_where_it_is(purchase_policy, submit_request):
    process = _at_first_stage(submit_request)
    process.approved = False
    process.save(update_fields=["approved"])  # as the decision's service records it
    entered = AuditEvent.objects.filter(action="purchase.stage_entered").count()

    chain_stage_after_decision(process=process, action="purchase.stage_entered")

    process.refresh_from_db()
    assert (process.stage_order, process.approved) == (1, False)
    assert AuditEvent.objects.filter(action="purchase.stage_entered").count() == entered


def test_an_approval_moves_the_chain_to_its_next_stage_then_past_the_last(purchase_policy, submit_request):
    process = _at_first_stage(submit_request)
    process.approved = True

    chain_stage_after_decision(process=process, action="purchase.stage_entered")
    process.refresh_from_db()
    assert (process.stage_order, process.approved) == (2, None)  # finance, undecided

    process.approved = True
    chain_stage_after_decision(process=process, action="purchase.stage_entered")
    process.refresh_from_db()
    assert (process.stage_order, process.approved) == (None, True)  # past the last stage
