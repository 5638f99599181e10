"""Read side of purchase requests: the requester's "my requests" page."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.purchase.models import PurchaseProcess


def purchase_requests_of(user: Any) -> QuerySet:
    """The purchase requests `user` submitted, newest first, with their pinned version."""
    return (
        PurchaseProcess.objects.filter(requester=user)
        .select_related("policy_version__policy")
        .prefetch_related("policy_version__stages__group")
        .order_by("-created", "-pk")
    )


def purchase_request_rows(processes: Any) -> list[dict[str, Any]]:
    """For "my requests": each request's state, its current stage, and who holds it now."""
    processes = list(processes)
    open_tasks: dict[int, Task] = {}
    for task in (
        Task.objects.filter(
            process__in=processes, flow_task_type="HUMAN", status__in=[STATUS.NEW, STATUS.ASSIGNED]
        )
        .select_related("owner")
        .order_by("pk")
    ):
        open_tasks[task.process_id] = task
    rows = []
    for process in processes:
        task = open_tasks.get(process.pk)
        stage = process.current_stage if task is not None and task.flow_task.name == "approve" else None
        if task is None:
            holder = ""
        elif task.owner_id:
            holder = task.owner.get_full_name() or task.owner.get_username()
        else:
            holder = f"group {stage.group_name}" if stage is not None else "unassigned"
        if process.status == "DONE":
            state = "Withdrawn" if process.withdrawn else "Approved"
        elif task is not None and task.flow_task.name == "revise":
            state = "Returned to you"
        elif stage is not None:
            state = "In approval"
        else:
            state = process.get_status_display()
        rows.append(
            {
                "process": process,
                "state": state,
                "stage": f"{stage.order}. {stage.name}" if stage is not None else "",
                "holder": holder,
                "task": task,
                "version": process.policy_version,
            }
        )
    return rows
