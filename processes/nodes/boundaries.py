"""Boundary events disarmed with one read when their host task finishes.

viewflow cancels a finished host's armed boundary events from each boundary node's
`task_finished` receiver (`BoundaryEventMixin._on_host_finished`): one query per boundary node,
then for each armed task an activation that loads the process twice (the base row, then the
flow's subclass row). A job's `.OnError` boundary cost four statements on every job, a purchase
approval's four `.OnTimeout` boundaries a dozen on every decision.

Here the first boundary's receiver reads the host's open followers once (a query compiled once
per connection) and keeps them on the host task for its other boundaries, and every armed task
gets the process of the activation that finished the host: the same row, read under the same
flow lock.
"""

from __future__ import annotations

from typing import Any

from viewflow.workflow.flow.nodes import ErrorBoundary
from viewflow.workflow.status import STATUS

from processes.locks import prepared_read


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


class JobErrorBoundary(HostFinishedMixin, ErrorBoundary):
    """viewflow's error boundary (`.OnError`), disarmed with one read."""
