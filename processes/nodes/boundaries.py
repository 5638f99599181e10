"""Boundary events disarmed with one read when their host task finishes.

viewflow cancels a finished host's armed boundary events from each boundary node's
`task_finished` receiver (`BoundaryEventMixin._on_host_finished`): one query per boundary node,
then for each armed task an activation that loads the process twice (the base row, then the
flow's subclass row). A job's `.OnError` boundary cost four statements on every job, a purchase
approval's four `.OnTimeout` boundaries a dozen on every decision.

Here the first boundary's receiver reads the host's open followers once (a query compiled once
per connection) and keeps them on the host task for its other boundaries, and every armed task
gets the process of the activation that finished the host: the same row, read under the same
flow lock. A host whose data says none of its timers was armed (`TIMERS_ARMED`) reads nothing.

A job's `.OnError` boundary (JobErrorBoundary) is not armed at all: it is created when its job
fails, and fires at once. See its docstring.
"""

from __future__ import annotations

from typing import Any

from viewflow.workflow.flow.nodes import ErrorBoundary
from viewflow.workflow.status import STATUS

from processes.locks import prepared_read

#: In a host task's data: the names of its timer boundaries that were armed with it, when its
#: node decided them as its row was written (processes/nodes/deadline.py).
TIMERS_ARMED = "timers_armed"


class HostFinishedMixin:
    """For a boundary node: cancel its armed task when the host finishes, reading once."""

    flow_class: Any
    activation_class: Any
    _attached_to: Any

    def _on_host_finished(self, **signal_kwargs: Any) -> None:
        host_task = signal_kwargs["task"]
        if host_task.flow_task != self._attached_to:
            return
        armed = host_task.__dict__.get("_open_boundaries")
        if armed is None and (host_task.data or {}).get(TIMERS_ARMED) == []:
            armed = []  # none was armed with it (processes/nodes/deadline.py)
        if armed is None:
            tasks = self.flow_class.task_class._default_manager
            armed = prepared_read(
                ("boundaries.open", tasks.model),
                lambda process_pk, host_pk: tasks.filter(process_id=process_pk, previous=host_pk).exclude(
                    status__in=[STATUS.DONE, STATUS.CANCELED, STATUS.REVIVED, STATUS.ERROR]
                ),
                host_task.process_id,
                host_task.pk,
            ).run()
            host_task.__dict__["_open_boundaries"] = armed
        process = signal_kwargs.get("process")
        for task in armed:
            if task.flow_task != self:
                continue
            if process is not None:
                task.process = process
            activation = self.activation_class(task)
            if activation.cancel.can_proceed():
                activation.cancel()


#: In a job task's data: its `.OnError` boundaries are made when it fails, none is armed.
ARMED_ON_FAILURE = "error_boundary_on_failure"


class JobErrorBoundary(HostFinishedMixin, ErrorBoundary):
    """viewflow's error boundary (`.OnError`) of a CeleryJob, made when the job fails.

    viewflow arms an error boundary's task with every host task and cancels it when the host
    finishes: four statements on every job that ends well (the task and its link inserted, then
    read and cancelled under the finishing lock), and an open "…__error" task beside every
    running job in the operations views. The boundary does nothing until its host fails, so here
    it is created then (same token, the host as its previous task) and fired in the same
    transaction, as viewflow fires an armed one. A job marks its data with ARMED_ON_FAILURE when
    it is activated (CeleryJobActivation.activate); a job task activated before this change has
    no mark and an armed row, which is fired or cancelled as before.
    """

    def _arm(self, host_activation: Any) -> None:
        """Nothing to arm: the boundary is made when the host fails (`_on_host_failed`)."""

    def _on_host_finished(self, **signal_kwargs: Any) -> None:
        if not _armed_on_failure(signal_kwargs["task"]):
            super()._on_host_finished(**signal_kwargs)

    def _on_host_failed(self, **signal_kwargs: Any) -> None:
        host_task = signal_kwargs["task"]
        if host_task.flow_task != self._attached_to:
            return
        if not _armed_on_failure(host_task):
            super()._on_host_failed(**signal_kwargs)
            return
        if self._code is not None and (host_task.data.get("_exception") or {}).get("code") != self._code:
            return
        process = signal_kwargs.get("process")
        if process is not None:
            host_task.process = process
        host_activation = host_task.flow_task.activation_class(host_task)
        activation = self.activation_class.create(self, host_activation, host_task.token)
        activation.activate()
        activation.start()
        activation.execute()


def _armed_on_failure(host_task: Any) -> bool:
    return bool((host_task.data or {}).get(ARMED_ON_FAILURE))
