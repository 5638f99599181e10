"""`StartHandle`: viewflow's StartHandle, for a handler that writes the process row itself, with
no savepoint of its own (ADR 0030).

viewflow's start saves the process after its handler, in a savepoint of its own. A handler that
needs the row before the flow starts (a catalog request's attachments point at it, its audit
names it) has inserted it already, so viewflow's save is two more UPDATEs (the base row and the
process type's) of what was just written. Here the process is saved only when the handler has
not saved it; a handler that saves it saves its last change too. A start runs inside its
caller's transaction and its error propagates to it, so it opens no savepoint.
"""

from __future__ import annotations

from django.db import transaction
from viewflow.workflow import flow
from viewflow.workflow.activation import Activation
from viewflow.workflow.nodes.start import StartHandleActivation as _StartHandleActivation
from viewflow.workflow.signals import flow_started, task_started


class StartHandleActivation(_StartHandleActivation):
    @Activation.status.super()
    def execute(self) -> None:
        """viewflow's: the process saved (unless its handler saved it), then, under the flow
        lock, the start task finished and the next node activated."""
        task_started.send(sender=self.flow_class, process=self.process, task=self.task)
        with transaction.atomic(savepoint=False):
            if self.process.pk is None:
                self.process.save()
            with self.flow_class.lock(self.process.pk):
                self.complete()
                flow_started.send(sender=self.flow_class, process=self.process, task=self.task)
                self.activate_next()


class StartHandle(flow.StartHandle):
    """viewflow's `flow.StartHandle`, the process saved once (by its handler, if it does)."""

    activation_class = StartHandleActivation
