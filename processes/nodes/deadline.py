"""A human task whose timeout boundaries are armed only when they have a moment to fire at.

Escalation levels are data (a stage has zero to three), but viewflow boundaries are declared on
the node, so the purchase approval task declares a fixed set of them. viewflow arms every
boundary with every host task and requires its delay to be a moment; a boundary for a level the
stage does not have would need a fake moment and would show up as a timer in the process. The
order's fraud review uses it too: an order checked before fraud reviews had an SLA has no
moment for its reminder.

`DeadlineView.OnTimeout` builds `OptionalTimerBoundary` instead: its delay callable may return
None, and then the boundary is not armed at all (no task row). The delay is evaluated twice, at
arming with the host's activation and in viewflow's own `activate` with the boundary's, so the
callable takes either: `deadline_host_task(activation)` finds the host task in both cases.
Naming and ordering are viewflow's (`<host>__timeout`, `__timeout_2`, ...): only ever append.

A process manager may move a task's due time (processes/interventions.py). The new due time and
how far it moved from the computed one are kept on the host task (`task.data["due"]`, read with
`task_due_override` / `task_due_shift`), and every boundary of a DeadlineView is armed that much
later (or earlier): the reminder stays as long before the due time as it was, and each
escalation level as long after. So re-arming after a move is viewflow's own arming, again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from viewflow.workflow import flow
from viewflow.workflow.activation import Activation
from viewflow.workflow.flow.nodes import TimerBoundary
from viewflow.workflow.nodes.boundary import TimerBoundaryActivation
from viewflow.workflow.nodes.view import ViewActivation
from viewflow.workflow.status import STATUS

from processes.nodes.boundaries import TIMERS_ARMED, HostFinishedMixin
from processes.nodes.rows import task_insert_linked, task_new

# Where a moved due time is kept on the host task's data.
DUE_KEY = "due"


def deadline_host_task(activation: Any) -> Any:
    """The human task a boundary belongs to, from the host's activation or the boundary's own."""
    task = activation.task
    if task.flow_task_type == "HUMAN":
        return task
    return task.previous.get()


def deadline_path_host(activation: Any) -> Any:
    """The human task a boundary's path step (a `flow.Function` after the timer) runs for:
    step <- timer <- task."""
    return activation.task.previous.get().previous.get()


def task_due_override(task: Any) -> datetime | None:
    """The due time a process manager set on `task`, or None (its step's own)."""
    value = ((task.data or {}).get(DUE_KEY) or {}).get("at")
    return datetime.fromisoformat(value) if value else None


def task_due_shift(task: Any) -> timedelta:
    """How far `task`'s due time was moved from the one its step computes (zero: not moved)."""
    return timedelta(seconds=((task.data or {}).get(DUE_KEY) or {}).get("shift", 0))


class DeadlineTimerActivation(TimerBoundaryActivation):
    """Arms the boundary at its delay's moment, moved with the host task's due time."""

    @Activation.status.transition(source=STATUS.NEW, target=STATUS.SCHEDULED)
    def activate(self) -> None:
        super().activate.original()
        host = deadline_host_task(self)
        shift = task_due_shift(host)
        if not shift:
            return
        delay = self.flow_task._delay
        # A fixed delay counts from the host's creation (viewflow counts it from the arming,
        # which is the same moment the first time and not when re-armed).
        base = host.created + delay if isinstance(delay, timedelta) else self.task.scheduled
        self.task.scheduled = base + shift
        self.task.save(update_fields=["scheduled"])


class OptionalTimerBoundary(HostFinishedMixin, TimerBoundary):
    """A timer boundary that is not armed when its delay callable returns None, and moves with
    its host task's due time. Disarmed with one read for all of its host's boundaries (a purchase
    approval declares four; processes/nodes/boundaries.py)."""

    activation_class = DeadlineTimerActivation

    def arms(self, host_activation: Any) -> bool:
        """Whether this boundary has a moment to fire at for the host task of `host_activation`."""
        delay = self._delay
        return not (callable(delay) and delay(host_activation) is None)

    def _arm(self, host_activation: Any) -> None:
        decided = (host_activation.task.data or {}).get(TIMERS_ARMED)
        if decided is not None and self.name not in decided:
            return  # decided when the host's row was written (DeadlineViewActivation.create)
        if self.arms(host_activation):
            super()._arm(host_activation)


class DeadlineViewActivation(ViewActivation):
    """viewflow's view activation; a task routed by an `.onCreate` hook marked
    `routes_before_save` (`escalation.flows.stage_route`) has its row written once, routed.

    viewflow saves the new task with the node's permission, links it in a second INSERT, then
    calls the hook, which routed it to its stage's group and saved it again, and the task list's
    row (written at the first save) was updated to follow: five statements for one new task.
    Here the hook sets the permission and stage on the task before its row exists, the row goes
    in with its link (`task_insert_linked`, ADR 0030), which sends `post_save` as `save()` does, so
    the task list's row is written once, with the routed permission.

    The row also records which of its timer boundaries are armed (`TIMERS_ARMED`: whether one has
    a moment to fire at depends on the stage the request pinned, which never changes), so that
    finishing a task none was armed for reads nothing to cancel (HostFinishedMixin); a re-arm
    after a moved due time arms the same ones."""

    @classmethod
    def create(
        cls, flow_task: Any, prev_activation: Any, token: Any, data: Any = None, seed: Any = None
    ) -> Any:
        hook = flow_task._on_create
        if hook is None or not getattr(hook, "routes_before_save", False):
            return super().create(flow_task, prev_activation, token, data=data, seed=seed)
        task = task_new(flow_task, prev_activation, token, data, seed)
        activation = cls(task)
        owner_permission = flow_task.calc_owner_permission(activation)
        if owner_permission:
            task.owner_permission = owner_permission
            task.owner_permission_obj = flow_task.calc_owner_permission_obj(activation)
        owner = flow_task.calc_owner(activation)
        if owner:
            task.owner = owner
            task.status = STATUS.ASSIGNED
        hook(activation)  # routes the task while it has no row
        boundaries = flow_task._boundary_events
        if boundaries and all(isinstance(boundary, OptionalTimerBoundary) for boundary in boundaries):
            task.flow_task_type = flow_task.task_type  # a host task, to the delays
            task.data[TIMERS_ARMED] = [boundary.name for boundary in boundaries if boundary.arms(activation)]
        task_insert_linked(task, prev_activation.task)  # and post_save: the task list's row
        return activation


class DeadlineView(flow.View):
    """`flow.View` whose `.OnTimeout` boundaries are optional (see the module docstring), and
    whose task is written once when its `.onCreate` hook routes it (DeadlineViewActivation)."""

    activation_class = DeadlineViewActivation

    def OnTimeout(self, delay: Any, then: Any, interrupting: bool = True, title: Any = None) -> DeadlineView:
        boundary = OptionalTimerBoundary(None, delay=delay, interrupting=interrupting).Next(then)
        if title is not None:
            boundary.Annotation(title=title)
        self._boundary_specs.append(("timeout", boundary))
        return self
