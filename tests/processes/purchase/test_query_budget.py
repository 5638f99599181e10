"""The approval path's query budget (issue 16): submit, claim and decide through HTTP, as a
person does, each held to the number of statements it takes today. A change that adds queries to
the hot path fails here and must either pay them back or raise the budget on purpose (and say
why in its commit), with bench/approvals.py's figures beside it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import get_resolver

from processes.policies.selectors import policy_chain_stages
from processes.purchase.flows import PurchaseFlow
from processes.purchase.models import PurchaseProcess
from tests.conftest import task_of
from tests.query_budget import assert_within, counted

pytestmark = pytest.mark.django_db

#: Statements per step, measured on 2026-12-02 on PostgreSQL, webhooks out included (one lookup of
#: the subscribed endpoints per event: two on submit, one on decide), and languages (ADR 0021: the
#: user's on every request, the recipients' of a notification, on submit and decide). Since
#: 2026-12-03 a notification's recipients are also looked up among those away (ADR 0023: one
#: indexed query per notification recorded, so that a substitute gets it instead). SQLite takes
#: two fewer a step (no row locks). A step may take up to SLACK fewer before the budget must come
#: down with it. Since 2026-12-03 (issue 16) the audit rows of a flow-lock block go in as one
#: INSERT when it ends, and the flow lock is one round trip in its own savepoint only; a
#: notification reads its recipients (preferences, languages, absences, and the queue's
#: candidates) in one query; the subscribed endpoints are read once per flow-lock block; a
#: user's permissions come in one query, the gate's visibility from the task in hand, the
#: process is read once under the lock, its starter once, and the policy version once on submit.
#: Since 2026-12-04 a task view under the lock opens no savepoint of its own (the lock's block is
#: one), and a claim reads the process from its own model's table only.
#: The same day, a published policy version's chain is kept by the process once read (one
#: query for its groups instead of two), so the budget is a warm process's.
#: Since 2026-12-05 the task, its process and who started it are read in the flow lock's round
#: trip (processes/locks.py `task_locked`), which also opens the block's savepoint, left to the
#: commit (ADR 0026); the If and Function nodes open no savepoint where an error propagates
#: (processes/nodes/gateways.py); the correlation id is read alone, and the language with the
#: permissions.
#: Since 2026-12-06 an If node's task row is written once, finished, with its link to the step
#: before it, and a Function's and a job's with their links (processes/nodes/rows.py, ADR 0030);
#: a task form's task is read only under the lock (processes/flowapp.py), not once before it
#: too; a stage's approval task is routed before its row is written, so its row, its link and
#: its task-list row go in once (processes/nodes/deadline.py); the route step's row too, finished
#: (processes/nodes/gateways.py: then `row_on_complete`, a `Route` since ADR 0034).
#: Since 2026-12-06 a stage task records which of its timers were armed with it, so a decision on
#: one that armed none reads nothing to cancel (processes/nodes/boundaries.py: TIMERS_ARMED).
#: Since 2026-12-06 each step's count includes what runs once its transaction commits (as a real
#: commit runs it: the metrics' reads were 1 on claim and 1 on decide), and a transition's update
#: of the task-list row returns the row's stage and due time, so the metrics read nothing.
#: Since 2026-12-06 (fourteenth session) the routing steps move the request on and choose the way
#: themselves (processes/nodes/gateways.py `Route`, ADR 0034): one task row fewer on submit, two
#: on decide (check_approved, route and has_next_stage became check_approved alone).
#: Since 2026-12-06 (fifteenth session) a start from a form opens no savepoint of its own, in its
#: view or in its start (processes/nodes/start.py `Start`): the request's transaction holds it;
#: and the decision's service opens none either (the task's flow lock's block is one).
BUDGET = {"submit": 22, "claim": 10, "decide": 19}
SLACK = 5
#: Elsewhere than on PostgreSQL (SQLite) each step's one lock opens and releases its savepoint in
#: statements of their own (2), the lock of a claim or a decision is followed by its three
#: reads (the task, its process, its starter), and a node's row and its link are two INSERTs
#: (submit: the route and the approval; decide: check_approved and a job).
ELSEWHERE = {"submit": 4, "claim": 5, "decide": 7}


def test_submit_claim_and_decide_stay_within_their_query_budget(purchase_policy, alice, olivia):
    assert get_resolver().url_patterns  # viewflow reverses only once the URLconf is loaded
    requester, approver = Client(), Client()
    requester.force_login(alice)
    approver.force_login(olivia)
    counts: dict[str, int] = {}
    policy_chain_stages(purchase_policy.pk)  # a warm process: an earlier request read the chain

    response = counted(
        "submit",
        counts,
        lambda: requester.post(
            PurchaseFlow.start.reverse("execute"),
            {"title": "Standing desk", "amount": "640.00", "currency": "EUR", "justification": "Back pain."},
        ),
    )
    assert response.status_code == 302
    process = PurchaseProcess.objects.get(title="Standing desk")
    assert process.amount == Decimal("640.00")
    approve = task_of(process, "approve")
    assert counted("claim", counts, lambda: approver.post(approve.reverse("assign"))).status_code == 302
    response = counted(
        "decide",
        counts,
        lambda: approver.post(approve.reverse("execute"), {"decision": "approve", "comment": ""}),
    )
    assert response.status_code == 302
    assert_within(counts, BUDGET, ELSEWHERE, SLACK)
