from __future__ import annotations

from viewflow import this
from viewflow.workflow import act, flow

from processes import locks
from processes.escalation import selectors as escalation_selectors
from processes.escalation import services as escalation_services
from processes.gate import process_visible_to
from processes.nodes import DeadlineView, deadline_host_task, deadline_path_host
from processes.services import task_routing_changed
from tests.plugins.expense import views
from tests.plugins.expense.models import ExpenseProcess


def stage_route(activation) -> None:
    """Route the new approval to its stage's group (when a policy is pinned), and write its task
    list row from the moment it exists."""
    stage = activation.process.current_stage
    if stage is not None:
        activation.task.owner_permission = stage.permission
        activation.task.data = {
            **(activation.task.data or {}),
            "stage": stage.order,
            "stage_name": stage.name,
        }
        activation.task.save(update_fields=["owner_permission", "data"])
    task_routing_changed(task=activation.task)  # its row was written with the node's permission


def reminder_due(activation):
    task = deadline_host_task(activation)
    return escalation_selectors.reminder_at(stage=activation.process.current_stage, start=task.created)


def _level_due(order: int):
    def level_due(activation):
        task = deadline_host_task(activation)
        return escalation_selectors.level_at(
            stage=activation.process.current_stage, start=task.created, order=order
        )

    level_due.__name__ = f"level_{order}_due"
    return level_due


class ExpenseFlow(flow.Flow):
    """Expense claim

    A claimant asks to be paid back. The one stage of the published expense policy (pinned at
    submission) decides; a late decision is reminded, then escalated by the stage's levels.
    """

    process_class = ExpenseProcess
    lock_impl = locks.select_for_update_lock
    visible_per_process = True
    process_summary_template = "{{ process.title }} ({{ process.amount }} {{ process.currency }})"

    start = (
        flow.Start(views.ExpenseClaimStartView.as_view())
        .Annotation(title="New expense claim")
        .Permission("expense.start_expense")
        .Next(this.approve)
    )
    # Boundaries, by name: approve__timeout (reminder), approve__timeout_2 and _3 (levels 1, 2).
    approve = (
        DeadlineView(views.ExpenseDecisionView.as_view())
        .Annotation(title="Approve expense claim")
        .Permission("expense.approve_expense")
        .onCreate(stage_route)
        .OnTimeout(reminder_due, this.remind, interrupting=False, title="Reminder")
        .OnTimeout(_level_due(1), this.escalate_1, interrupting=False, title="Escalation level 1")
        .OnTimeout(_level_due(2), this.escalate_2, interrupting=False, title="Escalation level 2")
        .Next(this.check_approved)
    )
    remind = flow.Function(this.task_remind).Annotation(title="Remind")
    escalate_1 = flow.Function(this.task_escalate_1).Annotation(title="Escalate (level 1)")
    escalate_2 = flow.Function(this.task_escalate_2).Annotation(title="Escalate (level 2)")
    check_approved = flow.If(act.process.approved).Then(this.paid).Else(this.refused)
    paid = flow.End().Annotation(title="Approved")
    refused = flow.End().Annotation(title="Rejected")

    def has_view_permission(self, user, obj=None) -> bool:
        if obj is None:
            return super().has_view_permission(user)
        return process_visible_to(user=user, process=obj) if obj.pk else super().has_view_permission(user)

    def task_remind(self, activation) -> None:
        escalation_services.task_remind(
            task=deadline_path_host(activation), stage=activation.process.current_stage
        )

    def _escalate(self, activation, order: int) -> None:
        escalation_services.task_escalate(
            task=deadline_path_host(activation),
            process=activation.process,
            stage=activation.process.current_stage,
            level_order=order,
        )

    def task_escalate_1(self, activation) -> None:
        self._escalate(activation, 1)

    def task_escalate_2(self, activation) -> None:
        self._escalate(activation, 2)
