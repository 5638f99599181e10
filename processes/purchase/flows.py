from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from viewflow import this
from viewflow.workflow import act, flow

from processes import locks, nodes
from processes.escalation.flows import StageEscalationMixin, level_due, reminder_due, stage_route
from processes.gate import process_visible_to
from processes.nodes import CeleryJob, DeadlineView, JobCall
from processes.purchase import services, views
from processes.purchase.models import PurchaseProcess


def requester_of(activation):
    return activation.process.requester


class PurchaseFlow(StageEscalationMixin, flow.Flow):
    """Purchase request

    A requester asks to buy something. The stages of the published purchase approval policy
    (pinned when the request is submitted) decide in turn, each in its group's queue; a rejection
    goes back to the requester, who revises (the chain restarts) or withdraws. An approved request
    becomes a purchase order, created by an automated step in the worker.
    """

    process_title = _("Purchase request")  # the docstring's first line, translatable

    process_class = PurchaseProcess
    # Not viewflow's lock.select_for_update_lock: it retries in an aborted savepoint (locks.py).
    lock_impl = locks.select_for_update_lock
    process_summary_template = "{{ process.title }} ({{ process.amount }} {{ process.currency }})"

    start = (
        nodes.Start(views.PurchaseRequestStartView.as_view())
        .Annotation(title=_("New purchase request"))
        .Permission("purchase.start_purchase")
        .Next(this.route)
    )
    # Moves the request to its first stage and goes to it (or, with none, to the order).
    route = (
        nodes.Route(this.stage_next)
        .Annotation(title=_("Next approval stage"))
        .Case(this.approve, act.process.has_stage, label=_("next stage"))
        .Default(this.create_order)
    )
    # Its boundaries, by name: approve__timeout (reminder), approve__timeout_2, _3 and _4
    # (escalation levels 1, 2 and 3: policies.models.MAX_ESCALATION_LEVELS). The names come
    # from the declaration order, and armed timers store them: only ever append new ones.
    # Non-interrupting: each action changes or finishes the task itself.
    approve = (
        DeadlineView(views.PurchaseDecisionView.as_view())
        .Annotation(
            title=_("Approve purchase request"),
            summary_template=(
                "{{ process.title }}: {{ process.amount }} {{ process.currency }}"
                "{% if task.data.stage_name %} · {{ task.data.stage_name }}{% endif %}"
            ),
        )
        .Permission("purchase.approve_purchase")
        .onCreate(stage_route)
        .OnTimeout(reminder_due, this.remind, interrupting=False, title=_("Reminder"))
        .OnTimeout(level_due(1), this.escalate_1, interrupting=False, title=_("Escalation level 1"))
        .OnTimeout(level_due(2), this.escalate_2, interrupting=False, title=_("Escalation level 2"))
        .OnTimeout(level_due(3), this.escalate_3, interrupting=False, title=_("Escalation level 3"))
        .Next(this.check_approved)
    )
    # The timers' paths end in these steps (no next step: the approval task goes on).
    remind = nodes.Function(this.task_remind).Annotation(title=_("Remind"))
    escalate_1 = nodes.Function(this.task_escalate_1).Annotation(title=_("Escalate (level 1)"))
    escalate_2 = nodes.Function(this.task_escalate_2).Annotation(title=_("Escalate (level 2)"))
    escalate_3 = nodes.Function(this.task_escalate_3).Annotation(title=_("Escalate (level 3)"))
    # After a decision: a rejection goes back to the requester; an approval moves the request to
    # its next stage and goes to it, or past the last one to the order.
    check_approved = (
        nodes.Route(this.stage_after_decision)
        .Annotation(title=_("Approved? Next approval stage"))
        .Case(this.revise, act.process.rejected, label=_("no"))
        .Case(this.approve, act.process.has_stage, label=_("next stage"))
        .Default(this.create_order)
    )
    revise = (
        flow.View(views.PurchaseReviseView.as_view())
        .Annotation(
            title=_("Revise or withdraw the request"),
            summary_template="{{ process.title }}: {{ process.amount }} {{ process.currency }} (rejected)",
        )
        .Permission("purchase.start_purchase")
        .Assign(requester_of)
        .Next(this.check_withdrawn)
    )
    check_withdrawn = nodes.If(act.process.withdrawn).Then(this.withdrawn).Else(this.route)
    create_order = (
        CeleryJob(this.purchase_order_create).Annotation(title=_("Create purchase order")).Next(this.approved)
    )
    approved = nodes.End().Annotation(title=_("Approved"))
    withdrawn = nodes.End().Annotation(title=_("Withdrawn"))

    def has_view_permission(self, user, obj=None) -> bool:
        """The purchase pages are for everyone with the view permission; one request's pages (and
        its attachments) only for the people who work on it (process_visible_to)."""
        if obj is None:
            return super().has_view_permission(user)
        return process_visible_to(user=user, process=obj) if obj.pk else super().has_view_permission(user)

    def stage_next(self, activation) -> None:
        services.purchase_stage_next(process=activation.process)

    def stage_after_decision(self, activation) -> None:
        services.purchase_stage_after_decision(process=activation.process)

    def purchase_order_create(self, job: JobCall) -> None:
        services.purchase_order_create(process=job.process, idempotency_key=job.idempotency_key)
