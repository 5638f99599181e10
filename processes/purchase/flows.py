from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from viewflow import this
from viewflow.workflow import act, flow

from processes import locks
from processes.escalation import selectors as escalation_selectors
from processes.escalation import services as escalation_services
from processes.gate import process_visible_to
from processes.nodes import CeleryJob, DeadlineView, JobCall, deadline_host_task, deadline_path_host
from processes.purchase import services, views
from processes.purchase.models import PurchaseProcess
from processes.services import task_routing_changed


def stage_remember(activation) -> None:
    """Route the new task to its stage's group, and keep on it which stage it decides (for its
    title, the history and the task lists).

    The node declares the default chain's permission; each task then carries its stage's own
    candidate permission. (A `.Permission(callable)` would hide the node's permission from the
    live notifications, which read it from the node to know which queues a user listens to.)
    """
    stage = activation.process.current_stage
    activation.task.owner_permission = stage.permission
    activation.task.data = {
        **(activation.task.data or {}),
        "stage": stage.order,
        "stage_name": stage.name,
        "group": stage.group_name,
    }
    activation.task.save(update_fields=["owner_permission", "data"])
    task_routing_changed(task=activation.task)  # its row was written with the node's permission


def requester_of(activation):
    return activation.process.requester


# The approval task's deadlines, as boundary delays. Each returns None when the task's stage sets
# no such moment, and DeadlineView then does not arm that boundary at all.
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


class PurchaseFlow(flow.Flow):
    """Purchase request

    A requester asks to buy something. The stages of the published purchase approval policy
    (pinned when the request is submitted) decide in turn, each in its group's queue; a rejection
    goes back to the requester, who revises (the chain restarts) or withdraws. An approved request
    becomes a purchase order, created by an automated step in the worker.
    """

    process_class = PurchaseProcess
    # Not viewflow's lock.select_for_update_lock: it retries in an aborted savepoint (locks.py).
    lock_impl = locks.select_for_update_lock
    visible_per_process = True  # see has_view_permission
    process_summary_template = "{{ process.title }} ({{ process.amount }} {{ process.currency }})"

    start = (
        flow.Start(views.PurchaseRequestStartView.as_view())
        .Annotation(title=_("New purchase request"))
        .Permission("purchase.start_purchase")
        .Next(this.route)
    )
    route = (
        flow.Function(this.stage_next).Annotation(title=_("Next approval stage")).Next(this.has_next_stage)
    )
    has_next_stage = flow.If(act.process.has_stage).Then(this.approve).Else(this.create_order)
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
        .onCreate(stage_remember)
        .OnTimeout(reminder_due, this.remind, interrupting=False, title=_("Reminder"))
        .OnTimeout(_level_due(1), this.escalate_1, interrupting=False, title=_("Escalation level 1"))
        .OnTimeout(_level_due(2), this.escalate_2, interrupting=False, title=_("Escalation level 2"))
        .OnTimeout(_level_due(3), this.escalate_3, interrupting=False, title=_("Escalation level 3"))
        .Next(this.check_approved)
    )
    # The timers' paths end in these steps (no next step: the approval task goes on).
    remind = flow.Function(this.task_remind).Annotation(title=_("Remind"))
    escalate_1 = flow.Function(this.task_escalate_1).Annotation(title=_("Escalate (level 1)"))
    escalate_2 = flow.Function(this.task_escalate_2).Annotation(title=_("Escalate (level 2)"))
    escalate_3 = flow.Function(this.task_escalate_3).Annotation(title=_("Escalate (level 3)"))
    check_approved = flow.If(act.process.approved).Then(this.route).Else(this.revise)
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
    check_withdrawn = flow.If(act.process.withdrawn).Then(this.withdrawn).Else(this.route)
    create_order = (
        CeleryJob(this.purchase_order_create).Annotation(title=_("Create purchase order")).Next(this.approved)
    )
    approved = flow.End().Annotation(title=_("Approved"))
    withdrawn = flow.End().Annotation(title=_("Withdrawn"))

    def has_view_permission(self, user, obj=None) -> bool:
        """The purchase pages are for everyone with the view permission; one request's pages (and
        its attachments) only for the people who work on it (process_visible_to)."""
        if obj is None:
            return super().has_view_permission(user)
        return process_visible_to(user=user, process=obj) if obj.pk else super().has_view_permission(user)

    def stage_next(self, activation) -> None:
        services.purchase_stage_next(process=activation.process)

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

    def task_escalate_3(self, activation) -> None:
        self._escalate(activation, 3)

    def purchase_order_create(self, job: JobCall) -> None:
        services.purchase_order_create(process=job.process, idempotency_key=job.idempotency_key)
