"""`If` and `Function`: viewflow's nodes, without a savepoint of their own where it buys nothing;
and `Route`, the two in one step.

viewflow runs an If's condition and a Function's callback in `transaction.atomic(savepoint=True)`
inside an exception guard. The savepoint is for the guard's quiet mode (viewflow's
`context.propagate_exception` off, as its own timers and jobs run): the error is kept on the task
(ERROR) and the half-done work is rolled back to the savepoint, while the rest commits.

Everywhere else the error propagates, and then the savepoint buys nothing: the exception leaves
the flow lock's block (processes/locks.py: a savepoint, or the transaction) and rolls it back
whole, as a person's request or a job's finishing lock does. Yet every node costs two more round
trips (SAVEPOINT, RELEASE), and a person's decision passes three or four of these nodes: about
nine statements of an approval's 87 (docs/benchmarks.md, issue 16). So these open the savepoint
only in the quiet mode. Without it, an error still marks the enclosing atomic block for rollback
(Django refuses any later statement in it), so nothing half-done can commit.

Their task rows are written with fewer statements too (ADR 0030). viewflow inserts a node's task
when the node is created, links it to the task before it in a second INSERT, and updates it
when it completes: three statements, for a gateway that decides in memory in between.
- An `If` task is written once, when it completes: one INSERT of the finished row that also
  links it (a data-modifying CTE on PostgreSQL). Nothing between its creation and completion
  reads the row: its condition reads the process, and the transition hooks (audit, notifications,
  task list) take the task object, whose id the audit rows read when they are inserted.
- A `Function` task is inserted when created, with its link in the same statement, since its
  callback may read the row and its links (the escalation steps walk `task.previous`).
- A `Route` task (below) is written once, finished, as an If's: its callback works on the
  process only.
If the quiet mode keeps the error of a step written on completion, its row is inserted then,
linked, and saved as ERROR. The activations share `LinkedRowActivation` (processes/nodes/rows.py).

A `Route` is a step that does its work on the process and then chooses the way on: a `Function`
(written on completion) and the `If` or `Switch` after it, as one task (ADR 0034). An approval
chain passes one after its start and one after each decision, where it passed two or three.

Process plug-ins use these where they would use `flow.If` and `flow.Function`.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.timezone import now
from viewflow import this
from viewflow.workflow import flow
from viewflow.workflow.activation import Activation
from viewflow.workflow.base import Edge
from viewflow.workflow.context import context
from viewflow.workflow.exceptions import FlowRuntimeError
from viewflow.workflow.nodes.func import FunctionActivation as _FunctionActivation
from viewflow.workflow.nodes.if_gate import IfActivation as _IfActivation
from viewflow.workflow.nodes.switch import SwitchActivation as _SwitchActivation
from viewflow.workflow.signals import task_started

from processes.nodes.rows import LinkedRowActivation


def savepoint_where_kept() -> bool:
    """A savepoint only where the exception guard keeps the error instead of raising it."""
    return not context.propagate_exception


def callback_run(activation: Any) -> None:
    """A Function's (or a Route's) callback, as viewflow's Function runs it: the task started."""
    activation.task.started = now()
    task_started.send(sender=activation.flow_class, process=activation.process, task=activation.task)
    activation.flow_task._func(activation)


class WrittenOnComplete(LinkedRowActivation):
    """A gateway's activation: its task row written once, finished, when it completes."""

    @classmethod
    def _written_on_complete(cls, flow_task: Any) -> bool:
        return True


class IfActivation(WrittenOnComplete, _IfActivation):
    """viewflow's If activation, its task row written once, finished, when it completes."""

    @Activation.status.super()
    def activate(self) -> None:
        with self.exception_guard(), transaction.atomic(savepoint=savepoint_where_kept()):
            self._condition_result = self.flow_task._condition(self)

    @Activation.status.super()
    def complete(self) -> None:
        self._complete()


class FunctionActivation(LinkedRowActivation, _FunctionActivation):
    """viewflow's Function activation; its row inserted with its link when it is created."""

    @Activation.status.super()
    def activate(self) -> None:
        with self.exception_guard(), transaction.atomic(savepoint=savepoint_where_kept()):
            callback_run(self)

    @Activation.status.super()
    def complete(self) -> None:
        self._complete()


class RouteActivation(WrittenOnComplete, _SwitchActivation):
    """A Route's activation: its callback, then its cases in order, in one task written once,
    finished, when it completes."""

    @Activation.status.super()
    def activate(self) -> None:
        with self.exception_guard(), transaction.atomic(savepoint=savepoint_where_kept()):
            callback_run(self)
            self.next_task = next(
                (node for node, cond in self.flow_task._branches if cond is None or cond(self)), None
            )
            if self.next_task is None:
                raise FlowRuntimeError(f"No case of {self.flow_task.name} holds, and it has no default")

    @Activation.status.super()
    def complete(self) -> None:
        self._complete()


class If(flow.If):
    """viewflow's `flow.If`, its condition in a savepoint only where its error is kept."""

    activation_class = IfActivation


class Function(flow.Function):
    """viewflow's `flow.Function`, its callback in a savepoint only where its error is kept. Its
    row exists while the callback runs (the escalation steps find their host task through its
    `previous`); a callback that works on the process only and then branches is a `Route`."""

    activation_class = FunctionActivation


class Route(flow.Switch):
    """A step that does its work and then chooses the way on: `Route(func)` calls
    `func(activation)`, then takes the first `.Case(node, cond)` whose `cond(activation)` holds,
    or its `.Default(node)`.

    viewflow's way is a `Function` followed by an `If` or a `Switch`: two tasks, each with its
    row, its link, its two audit events and its activation, where one decision is made. A Route
    is one task, an exclusive gateway in the diagram, its cases named by their conditions. Its
    callback works on the process only (its row is written once, finished, as an If's): a
    callback that reads its task's row or links is a `Function`."""

    activation_class = RouteActivation

    def __init__(self, func: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._func = func
        self._labels: list[Any] = []

    def _resolve(self, instance: Any) -> None:
        super()._resolve(instance)
        self._func = this.resolve(instance, self._func)

    def Case(self, node: Any, cond: Any = None, label: Any = "") -> Route:
        """viewflow's `Case`, with the `label` its edge carries in the chart (viewflow's Switch
        labels none; keep it short: the chart writes it beside the edge's first segment)."""
        super().Case(node, cond)
        self._labels.append(label)
        return self

    def Default(self, node: Any) -> Route:
        """viewflow's `Default`: unlabelled, as BPMN marks a default flow by a slash, not a word."""
        super().Default(node)
        self._labels.append("")
        return self

    def _outgoing(self) -> Any:
        for (node, cond), label in zip(self._activate_next, self._labels, strict=True):
            yield Edge(src=self, dst=node, edge_class="cond_true" if cond else "default", label=label)
