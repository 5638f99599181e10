"""Flow helpers for a people's task that an approval policy's stage decides: route it to the
stage's group when it is created, and remind and escalate it by the stage's levels.

The stage is whatever the process type's descriptor says (`ProcessDescriptor.stage`), so a plug-in
wires its approval node with these and writes no escalation code of its own:

    class ExpenseFlow(StageEscalationMixin, flow.Flow):
        approve = (
            DeadlineView(...)
            .Permission("expense.approve_expense")
            .onCreate(stage_route)
            .OnTimeout(reminder_due, this.remind, interrupting=False, title=_("Reminder"))
            .OnTimeout(level_due(1), this.escalate_1, interrupting=False, title=_("Escalation level 1"))
            .Next(this.check_approved)
        )
        remind = flow.Function(this.task_remind)
        escalate_1 = flow.Function(this.task_escalate_1)

Boundary names come from the declaration order and armed timers store them
(processes/nodes/deadline.py): only ever append levels.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from viewflow.workflow.activation import Activation

from processes.escalation import selectors, services
from processes.nodes import deadline_host_task, deadline_path_host
from processes.policies.models import MAX_ESCALATION_LEVELS
from processes.registry import registry
from processes.services import task_routing_changed


def _stage(task: Any, process: Any) -> Any:
    return registry.for_process(process).stage(task, process)


def stage_route(activation: Activation) -> None:
    """`.onCreate` hook: route the new task to its stage's group (its candidate permission), and
    keep on it which stage it decides (its title in the lists, the history, email links). A task
    without a stage keeps the node's permission."""
    task, process = activation.task, activation.process
    stage = _stage(task, process)
    if stage is None:
        return
    task.owner_permission = stage.permission
    task.data = {
        **(task.data or {}),
        "stage": stage.order,
        "stage_name": stage.name,
        "group": stage.group_name,
    }
    if task.pk is None:
        return  # a DeadlineView's task, routed before its row is written (routes_before_save)
    task.save(update_fields=["owner_permission", "data"])
    task_routing_changed(task=task)  # its row was written with the node's permission


stage_route.routes_before_save = True  # type: ignore[attr-defined]  # see DeadlineViewActivation


# The boundaries' delays. Each returns None when the task's stage sets no such moment, and
# DeadlineView then does not arm that boundary at all.
def reminder_due(activation: Activation) -> datetime | None:
    task = deadline_host_task(activation)
    return selectors.reminder_at(stage=_stage(task, activation.process), start=task.created)


def level_due(order: int) -> Any:
    """The delay of escalation level `order` (1-based)."""
    if not 1 <= order <= MAX_ESCALATION_LEVELS:
        raise ValueError(f"Escalation levels run from 1 to {MAX_ESCALATION_LEVELS}, not {order}")

    def due(activation: Activation) -> datetime | None:
        task = deadline_host_task(activation)
        return selectors.level_at(stage=_stage(task, activation.process), start=task.created, order=order)

    due.__name__ = f"level_{order}_due"
    return due


class StageEscalationMixin:
    """The steps a stage task's boundaries lead to (`flow.Function(this.task_remind)`, ...): each
    runs the core's reminder or escalation level on the task the boundary belongs to."""

    def task_remind(self, activation: Activation) -> None:
        task = deadline_path_host(activation)
        services.task_remind(task=task, stage=_stage(task, activation.process))

    def _escalate(self, activation: Activation, order: int) -> None:
        task = deadline_path_host(activation)
        services.task_escalate(
            task=task, process=activation.process, stage=_stage(task, activation.process), level_order=order
        )

    def task_escalate_1(self, activation: Activation) -> None:
        self._escalate(activation, 1)

    def task_escalate_2(self, activation: Activation) -> None:
        self._escalate(activation, 2)

    def task_escalate_3(self, activation: Activation) -> None:
        self._escalate(activation, 3)
