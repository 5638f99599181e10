"""Write-side use cases shared by every process: claiming and releasing human tasks."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from viewflow.workflow.models import Task

from processes.audit import acting_as


def task_claim(*, task: Task, user: Any) -> Task:
    """Assign a queued task to `user`, who must be allowed to take it. Audited by the transition hook."""
    with acting_as(user), task.activation() as activation:
        if not activation.flow_task.can_assign(user, activation.task):
            raise PermissionDenied(f"{user} may not claim task {task.pk}")
        activation.assign(user)
    return task


def task_unclaim(*, task: Task, user: Any) -> Task:
    """Put an assigned task back in its queue; its owner or a process manager may do this."""
    with acting_as(user), task.activation() as activation:
        if not activation.flow_task.can_unassign(user, activation.task):
            raise PermissionDenied(f"{user} may not release task {task.pk}")
        activation.unassign()
    return task
