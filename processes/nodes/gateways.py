"""`If` and `Function`: viewflow's nodes, without a savepoint of their own where it buys nothing.

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

Process plug-ins use these where they would use `flow.If` and `flow.Function`.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.timezone import now
from viewflow.workflow import flow
from viewflow.workflow.activation import Activation
from viewflow.workflow.context import context
from viewflow.workflow.nodes.func import FunctionActivation as _FunctionActivation
from viewflow.workflow.nodes.if_gate import IfActivation as _IfActivation
from viewflow.workflow.signals import task_started


def _savepoint() -> bool:
    """A savepoint only where the exception guard keeps the error instead of raising it."""
    return not context.propagate_exception


class IfActivation(_IfActivation):
    @Activation.status.super()
    def activate(self) -> None:
        with self.exception_guard(), transaction.atomic(savepoint=_savepoint()):
            self._condition_result = self.flow_task._condition(self)


class FunctionActivation(_FunctionActivation):
    @Activation.status.super()
    def activate(self) -> None:
        with self.exception_guard(), transaction.atomic(savepoint=_savepoint()):
            self.task.started = now()
            task_started.send(sender=self.flow_class, process=self.process, task=self.task)
            self.flow_task._func(self)


class If(flow.If):
    """viewflow's `flow.If`, its condition in a savepoint only where its error is kept."""

    activation_class = IfActivation


class Function(flow.Function):
    """viewflow's `flow.Function`, its callback in a savepoint only where its error is kept."""

    activation_class = FunctionActivation
