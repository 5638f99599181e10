"""What the core needs to know about expense claims (processes/registry.py): only the hooks that
differ from the defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processes.registry import ProcessDescriptor, TaskColumns, register
from tests.plugins.expense import services
from tests.plugins.expense.flows import ExpenseFlow


@register
class ExpenseDescriptor(ProcessDescriptor):
    flow = ExpenseFlow
    icon = "receipt_long"
    # Groups of their own: the existing personas' rights stay as they are.
    roles = {
        "expense_claimants": ["expense.view_expenseprocess", "expense.start_expense"],
        "expense_approvers": ["expense.view_expenseprocess", "expense.approve_expense"],
        "expense_managers": ["expense.view_expenseprocess", "expense.manage_expenseprocess"],
    }
    history_labels = {
        "expense.policy_pinned": "Expense policy pinned",
        "expense.approved": "Expense approved",
        "expense.rejected": "Expense rejected",
    }
    decision_nodes = ("approve",)
    decision_actions = ("expense.approved", "expense.rejected")
    policy_field = "policy_version"

    def summary(self, process: Any) -> str:
        return f"{process.title} ({process.amount} {process.currency})"

    def stage(self, task: Any, process: Any) -> Any:
        return process.current_stage if task.flow_task.name == "approve" else None

    def columns(self, task: Any, process: Any, stage: Any = None) -> TaskColumns:
        base = super().columns(task, process, stage)
        claimant = process.claimant
        return TaskColumns(
            subject=process.title,
            requester=(claimant.get_full_name() or claimant.get_username()) if claimant else "",
            amount=process.amount,
            currency=process.currency,
            stage_name=base.stage_name,
            due_at=base.due_at,
        )

    def history_detail(self, action: str, details: Mapping[str, Any]) -> str:
        if action == "expense.policy_pinned":
            return f"{details.get('policy')} v{details.get('version')}"
        return ""

    def decide(self, *, task: Any, user: Any, approved: bool, comment: str) -> None:
        services.expense_task_decide(task=task, user=user, approved=approved, comment=comment)

    def decide_automatically(self, *, activation: Any, approved: bool, comment: str) -> None:
        services.expense_decide(activation=activation, user=None, approved=approved, comment=comment)
