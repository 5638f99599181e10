"""The catalog's approval path's query budget (issue 16, beside issue 13's target of 0.8 of the
purchase request): a request of an admin-defined type submitted on its start page, then claimed
and decided stage by stage through HTTP, each step held to the statements it takes today (see
tests/processes/purchase/test_query_budget.py for the code-defined process's)."""

from __future__ import annotations

import pytest
from django.test import Client

from processes.catalog.flows import CatalogFlow
from processes.catalog.models import CatalogRequest
from tests.conftest import task_of
from tests.query_budget import assert_within, counted

pytestmark = pytest.mark.django_db

#: Statements per step on PostgreSQL, measured on 2026-12-06 in a warm process (an earlier
#: request read the version's chain and form). Since that day a published version's form fields
#: are kept once read (processes/catalog/selectors.py `version_fields`), the start page reads
#: its type and version in one query and the start locks the type with the same answers in one
#: more, the process row is written once at the start (processes/nodes/start.py), and the gate
#: takes the requester from the request's own row. Each count includes what runs once the step's
#: transaction commits (tests/query_budget.py), where the metrics now read nothing. The last
#: decision ends the request with an UPDATE of the process's status and finish time alone, not
#: of each of its tables (processes/nodes/end.py): decide_2 33 -> 32 (twelfth session).
#: The routing steps move the request on and choose the way themselves (a `Route`, ADR 0034): one
#: task row fewer on submit, two on each decision (fourteenth session). The last decision's End
#: writes its row once, finished (processes/nodes/end.py): decide_2 one fewer.
#: Since 2026-12-06 (fifteenth session) the decision's service opens no savepoint of its own (the
#: task's flow lock's block is one): two statements fewer a decision.
BUDGET = {"submit": 23, "claim": 10, "decide": 28, "claim_2": 10, "decide_2": 27}
SLACK = 5
#: Elsewhere than on PostgreSQL (SQLite) each lock opens and releases its savepoint in statements
#: of their own, a claim's or a decision's lock is followed by its reads (the task, its process,
#: its starter), and a node's row and its link are two INSERTs.
ELSEWHERE = {"submit": 4, "claim": 5, "decide": 7, "claim_2": 5, "decide_2": 7}


def _request(requester: Client, expense_type, title: str) -> CatalogRequest:
    response = requester.post(
        CatalogFlow.instance.reverse("type_start", args=[expense_type.slug]),
        {"title": title, "amount": "1200.00", "category": "Equipment"},
    )
    assert response.status_code == 302, response.content[:500]
    return CatalogRequest.objects.get(subject=f"Expense claim: {title}")


def _claim_and_decide(
    client: Client, process: CatalogRequest, counts: dict[str, int], suffix: str = ""
) -> None:
    task = task_of(process, "approve")
    assert counted(f"claim{suffix}", counts, lambda: client.post(task.reverse("assign"))).status_code == 302
    response = counted(
        f"decide{suffix}",
        counts,
        lambda: client.post(task.reverse("execute"), {"decision": "approve", "comment": ""}),
    )
    assert response.status_code == 302


def test_a_two_stage_request_stays_within_its_query_budget(expense_type, alice, olivia, frank):
    requester, approver, finance = Client(), Client(), Client()
    requester.force_login(alice)
    approver.force_login(olivia)
    finance.force_login(frank)
    warm = _request(requester, expense_type, "Warm-up")  # an earlier request read chain and form
    _claim_and_decide(approver, warm, {})
    _claim_and_decide(finance, warm, {})

    counts: dict[str, int] = {}
    process = counted("submit", counts, lambda: _request(requester, expense_type, "Laptop"))
    counts["submit"] -= 1  # the test's own read of the new request
    _claim_and_decide(approver, process, counts)
    _claim_and_decide(finance, process, counts, "_2")
    process.refresh_from_db()
    assert process.approved is True
    assert process.status == "DONE"
    assert_within(counts, BUDGET, ELSEWHERE, SLACK)
