"""Read-side queries shared by every process."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS


def flows_managed_by(user: Any) -> list[type]:
    from processes.flows import FLOWS

    return [flow for flow in FLOWS if flow.instance.has_manage_permission(user)]


def incidents_for_user(user: Any) -> QuerySet[Task]:
    """Failed automated steps (status ERROR) of the processes `user` manages, newest first."""
    return (
        Task.objects.filter(
            flow_task_type="JOB", status=STATUS.ERROR, process__flow_class__in=flows_managed_by(user)
        )
        .select_related("process")
        .order_by("-finished", "-pk")
    )
