"""The start nodes: viewflow's, with no savepoint of their own (ADR 0030).

`StartHandle`, for a handler that writes the process row itself: viewflow's start saves the
process after its handler, in a savepoint of its own. A handler that needs the row before the
flow starts (a catalog request's attachments point at it, its audit names it) has inserted it
already, so viewflow's save is two more UPDATEs (the base row and the process type's) of what was
just written. Here the process is saved only when the handler has not saved it; a handler that
saves it saves its last change too.

`Start`, a process started from a form: viewflow's view opens a savepoint around the form, and
its start another around the process's save and the next node. A start runs inside its caller's
transaction (the request's, or its service's) and its error propagates to it, so neither opens
a savepoint here: two round trips fewer on every request submitted through a form.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import update_wrapper
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import path
from viewflow.workflow import flow
from viewflow.workflow.activation import Activation
from viewflow.workflow.nodes.start import StartHandleActivation as _StartHandleActivation
from viewflow.workflow.nodes.start import StartViewActivation as _StartViewActivation
from viewflow.workflow.signals import flow_started, task_started


def _start_run(activation: Any, *, saved_by_handler: bool) -> None:
    """viewflow's start: the process saved (unless its handler saved it, where it may), then,
    under the flow lock, the start task finished and the next node activated. In the caller's
    transaction (one of its own when there is none), with no savepoint."""
    task_started.send(sender=activation.flow_class, process=activation.process, task=activation.task)
    with transaction.atomic(savepoint=False):
        if not (saved_by_handler and activation.process.pk is not None):
            activation.process.save()
        with activation.flow_class.lock(activation.process.pk):
            activation.complete()
            flow_started.send(sender=activation.flow_class, process=activation.process, task=activation.task)
            activation.activate_next()


class StartHandleActivation(_StartHandleActivation):
    @Activation.status.super()
    def execute(self) -> None:
        _start_run(self, saved_by_handler=True)


class StartHandle(flow.StartHandle):
    """viewflow's `flow.StartHandle`, the process saved once (by its handler, if it does)."""

    activation_class = StartHandleActivation


class StartViewActivation(_StartViewActivation):
    @Activation.status.super()
    def execute(self) -> None:
        _start_run(self, saved_by_handler=False)


def start_view_wrap(node: Any, origin_view: Any) -> Any:
    """viewflow's start view wrapper (the new process's activation on the request, the node's
    permission checked), its POST in the request's transaction with no savepoint of its own."""

    def view(request, *args, **kwargs):
        request.activation = node.activation_class.create(node, None, None)
        if not node.can_execute(request.user, request.activation.task):
            raise PermissionDenied
        with transaction.atomic(savepoint=False) if request.method == "POST" else nullcontext():
            request.activation.start(request)
            return origin_view(request, *args, **kwargs)

    update_wrapper(view, origin_view)
    return view


class Start(flow.Start):
    """viewflow's `flow.Start` (a process started from a form), with no savepoints of its own."""

    activation_class = StartViewActivation

    @property
    def start_view_path(self) -> Any:
        return path(f"{self.name}/", start_view_wrap(self, self.start_view), name="execute")
