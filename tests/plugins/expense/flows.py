from __future__ import annotations

from viewflow import this
from viewflow.workflow import act, flow

from processes import locks
from processes.escalation.flows import StageEscalationMixin, level_due, reminder_due, stage_route
from processes.nodes import DeadlineView
from tests.plugins.expense import views
from tests.plugins.expense.models import ExpenseProcess


class ExpenseFlow(StageEscalationMixin, flow.Flow):
    """Expense claim

    A claimant asks to be paid back. The one stage of the published expense policy (pinned at
    submission) decides; a late decision is reminded, then escalated by the stage's levels.
    """

    process_class = ExpenseProcess
    lock_impl = locks.select_for_update_lock
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
        .OnTimeout(level_due(1), this.escalate_1, interrupting=False, title="Escalation level 1")
        .OnTimeout(level_due(2), this.escalate_2, interrupting=False, title="Escalation level 2")
        .Next(this.check_approved)
    )
    remind = flow.Function(this.task_remind).Annotation(title="Remind")
    escalate_1 = flow.Function(this.task_escalate_1).Annotation(title="Escalate (level 1)")
    escalate_2 = flow.Function(this.task_escalate_2).Annotation(title="Escalate (level 2)")
    check_approved = flow.If(act.process.approved).Then(this.paid).Else(this.refused)
    paid = flow.End().Annotation(title="Approved")
    refused = flow.End().Annotation(title="Rejected")
