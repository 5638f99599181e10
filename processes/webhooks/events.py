"""What becomes a webhook event, and the event's envelope.

The core already observes every change a subscriber cares about, in the change's transaction:
the audit trail records each task transition (processes/audit.py, ADR 0005) and every decision
goes through `processes.services.decision_record`. So the events come from there:

| event                 | from                                                              |
|-----------------------|-------------------------------------------------------------------|
| `process.started`     | the audit event `process.started` (a start node completed)        |
| `task.created`        | `task.created` of a people's task (HUMAN node)                    |
| `task.decided`        | `decision_record` (every plug-in's decisions)                      |
| `process.completed`   | `process.finished` that left the process DONE; plug-ins may add    |
| `process.compensated` | `task.completed` of a compensation throw (viewflow CompensateThrow)|
| `incident.opened`     | `task.failed` of an automated step (JOB) no `.OnError` catches     |

The envelope is `{"type", "timestamp", "data"}`; `data` holds ids, the type's label and title
(from the registry: the core knows no process), the step, the decision and the correlation id,
never form values or people's names beyond what the API's reads show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils import timezone
from viewflow.workflow.nodes import CompensateThrow
from viewflow.workflow.status import PROCESS

from processes.audit import correlation_id_of
from processes.registry import registry
from processes.webhooks.models import EventType

if TYPE_CHECKING:
    from viewflow.workflow.models import Process, Task

    from processes.models import AuditEvent


def process_type_data(process: Process) -> dict[str, str]:
    """The process type as the API's reads show it: label, title, and a catalog type's own name."""
    flow = process.flow_class.instance
    descriptor = registry.for_flow(flow)
    own = str(descriptor.type_title(process.coerced) or "")
    title = str(descriptor.title)
    return {"label": flow.flow_label, "title": title, "kind": own if own != title else ""}


def event_data(*, process: Process, task: Task | None = None, **extra: Any) -> dict[str, Any]:
    """The `data` of an event about `process` (and `task`)."""
    data: dict[str, Any] = {
        "process_id": process.pk,
        "process_type": process_type_data(process),
        "correlation_id": correlation_id_of(process),
    }
    if task is not None:
        node = task.flow_task
        data.update(
            task_id=task.pk,
            step=getattr(node, "name", ""),
            step_title=str(getattr(node, "task_title", "") or getattr(node, "name", "")),
        )
    data.update(extra)
    return data


def envelope(event_type: str, data: dict[str, Any], *, timestamp: Any = None) -> dict[str, Any]:
    """The stable JSON envelope of every event (Standard Webhooks' recommended shape)."""
    if event_type not in EventType.values:
        raise ValueError(f"unknown webhook event {event_type!r}")
    at = timestamp or timezone.now()
    return {"type": event_type, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data}


def events_of_audit(event: AuditEvent) -> list[tuple[str, dict[str, Any]]]:
    """The webhook events an audit event stands for: (type, data) pairs, usually none."""
    process, task, details = event.process, event.task, event.details or {}
    if process is None:
        return []
    node_type = details.get("node_type", "")
    if event.action == "process.started":
        return [(EventType.PROCESS_STARTED, event_data(process=process, task=task))]
    if event.action == "task.created" and node_type == "HUMAN" and task is not None:
        return [(EventType.TASK_CREATED, event_data(process=process, task=task))]
    if event.action == "process.finished" and process.status == PROCESS.DONE:
        # An End node finished the process (a compensation handler's End leaves it running).
        return [
            (
                EventType.PROCESS_COMPLETED,
                event_data(process=process, end=details.get("end", ""), status=str(process.status)),
            )
        ]
    if event.action == "task.completed" and task is not None and isinstance(task.flow_task, CompensateThrow):
        return [(EventType.PROCESS_COMPENSATED, event_data(process=process, task=task))]
    if event.action == "task.failed" and node_type == "JOB" and task is not None and not _caught(task):
        return [(EventType.INCIDENT_OPENED, event_data(process=process, task=task))]
    return []


def _caught(task: Task) -> bool:
    """Does an error boundary without a code (`.OnError(...)`) take the step's failure over (the
    flow goes on, no incident is left)? viewflow keeps a node's boundaries in `_boundary_specs`."""
    return any(
        kind == "error" and getattr(boundary, "_code", None) is None
        for kind, boundary in getattr(task.flow_task, "_boundary_specs", ())
    )


def decision_name(process: Process, action: str) -> str:
    """A decision's name in an event: `approved` / `rejected` for a type's yes-or-no decisions
    (the registry's `decision_actions`), else the action's last part (`fraud_cleared`, `withdrawn`)."""
    approved, rejected = registry.for_process(process).decision_actions
    if action == approved:
        return "approved"
    if action == rejected:
        return "rejected"
    return action.rsplit(".", 1)[-1]
