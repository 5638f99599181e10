"""Write-side use cases of the expense claim process."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from processes.audit import audit_record
from processes.notifications.services import notify_request_decided
from processes.policies.selectors import policy_version_published
from processes.services import decision_record, process_starting, task_executing
from tests.plugins.expense.models import EXPENSE_POLICY, ExpenseProcess


@transaction.atomic
def expense_claim_submit(*, activation: Any, claimant: Any, data: dict[str, Any]) -> ExpenseProcess:
    """Start an expense claim from validated data, pinning the published expense policy."""
    process: ExpenseProcess = activation.process
    for field in ("title", "amount", "currency"):
        setattr(process, field, data[field])
    process.claimant = claimant
    process.policy_version = policy_version_published(policy_name=EXPENSE_POLICY)
    process.full_clean(
        exclude=[
            "flow_class",
            "status",
            "created",
            "finished",
            "data",
            "parent_task",
            "claimant",
            "policy_version",
        ],
        validate_unique=False,
    )
    activation.execute()
    if process.policy_version is not None:
        audit_record(
            action="expense.policy_pinned",
            process=process,
            actor=claimant,
            details={"policy": process.policy_version.policy.name, "version": process.policy_version.number},
        )
    return process


def expense_claim_start(*, claimant: Any, data: dict[str, Any]) -> ExpenseProcess:
    """Start an expense claim without the web form (tests, as an API would)."""
    from tests.plugins.expense.flows import ExpenseFlow

    with process_starting(node=ExpenseFlow.start, user=claimant) as activation:
        return expense_claim_submit(activation=activation, claimant=claimant, data=data)


@transaction.atomic
def expense_decide(*, activation: Any, user: Any, approved: bool, comment: str) -> ExpenseProcess:
    """Record the approver's (or the system's) decision and move the flow on."""
    process: ExpenseProcess = activation.process
    comment = comment.strip()
    if not approved and not comment:
        raise ValueError("A rejection needs a comment")
    process.approved = approved
    process.save(update_fields=["approved"])
    notify_request_decided(process=process, approved=approved, actor=user, comment=comment)
    decision_record(
        activation=activation,
        user=user,
        action="expense.approved" if approved else "expense.rejected",
        comment=comment,
    )
    return process


def expense_task_decide(*, task: Any, user: Any, approved: bool, comment: str = "") -> ExpenseProcess:
    """Decide an approval task `user` holds or may take, without the web form (email links)."""
    with task_executing(task=task, user=user) as activation:
        return expense_decide(activation=activation, user=user, approved=approved, comment=comment)
