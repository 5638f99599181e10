"""The one authorization gate: who may do what with a task, and who may see a process.

Every action on a task goes through `task_authorize`, from every entry: the portal's pages and
services, viewflow's generated task views (processes/flowapp.py), email links, escalation and
admin actions. It checks, in this order (design.md 4.9):

1. the task belongs to the node and the process the request names (else 404: a task executed
   through another step's URL, or locked under a made-up process id, is not found);
2. the task is a people's task whose state allows the action (else TaskUnavailable, which says
   who holds it now or that it is done);
3. the user holds the right for it: its owner, a candidate (its permission; a task without one
   is nobody's to claim), a manager of its process type, or a superuser;
4. the process is visible to the user (`process_visible_to`, the one place that decides it);
5. segregation of duties: whoever started a process never claims or decides its tasks, and no
   delegation, reassignment or escalation hands one to her. Only the tasks the flow assigns to
   her itself (`.Assign(...)`, like a requester's revise task) are hers, and those are never
   released or handed over.

Refusals are `GateDenied` (a PermissionDenied, so a view answers 403) with a reason code.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.registry import registry
from processes.tasklist.exceptions import TaskUnavailable

PEOPLE_TASK_TYPES = ("HUMAN", "HUMAN_START")


class TaskAction(StrEnum):
    VIEW = "view"
    CLAIM = "claim"
    RELEASE = "release"
    DELEGATE = "delegate"
    REASSIGN = "reassign"
    DECIDE = "decide"  # execute a task that decides someone else's request (an approval)
    EDIT = "edit"  # execute a task the flow gave its requester (revise: edit or withdraw)
    WITHDRAW = "withdraw"
    RESCHEDULE = "reschedule"  # a process manager moves an open task's due time


EXECUTE_ACTIONS = frozenset({TaskAction.DECIDE, TaskAction.EDIT, TaskAction.WITHDRAW})
HANDING_ACTIONS = frozenset({TaskAction.DELEGATE, TaskAction.REASSIGN})
# The states each action may start from (VIEW: any).
_STATES: dict[TaskAction, tuple[str, ...]] = {
    TaskAction.CLAIM: (STATUS.NEW,),
    TaskAction.RELEASE: (STATUS.ASSIGNED,),
    TaskAction.DELEGATE: (STATUS.ASSIGNED,),
    TaskAction.REASSIGN: (STATUS.NEW, STATUS.ASSIGNED),
    TaskAction.DECIDE: (STATUS.ASSIGNED,),
    TaskAction.EDIT: (STATUS.ASSIGNED,),
    TaskAction.WITHDRAW: (STATUS.ASSIGNED,),
    TaskAction.RESCHEDULE: (STATUS.NEW, STATUS.ASSIGNED),
}


class GateDenied(PermissionDenied):
    """The gate refused an action; `reason` is a stable code (audit, tests), the message words."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# ---------------------------------------------------------------- facts about a task


def node_is_personal(node: Any) -> bool:
    """Does the flow itself assign this node's tasks (`.Assign(...)`)? Such a task belongs to one
    person (a requester's revise task): it has no queue, and is never released or handed over."""
    return getattr(node, "_owner", None) is not None


def task_is_personal(task: Task) -> bool:
    return node_is_personal(task.flow_task)


def execute_action(node: Any) -> TaskAction:
    """What executing a task of `node` does: edit one's own request, or decide someone else's."""
    return TaskAction.EDIT if node_is_personal(node) else TaskAction.DECIDE


def is_process_manager(user: Any, flow_class: Any) -> bool:
    return bool(user.is_superuser or flow_class.instance.has_manage_permission(user))


def view_permission(flow_class: Any) -> str:
    """The model-wide `view_` permission of a process type (`app_label.view_model`)."""
    opts = flow_class.process_class._meta
    return f"{opts.app_label}.view_{opts.model_name}"


def hold_permissions(task: Task) -> list[str]:
    """The permissions a user needs to hold `task`: its candidate permission, and for a process
    type visible model-wide its `view_` permission too (per-process visibility follows from the
    candidacy itself, so a group escalated to sees that task's process and nothing else)."""
    flow_class = task.flow_task.flow_class
    permissions = [task.owner_permission] if task.owner_permission else []
    if registry.for_flow(flow_class).visible_model_wide:
        permissions.append(view_permission(flow_class))
    return permissions


def may_hold(user: Any, task: Task) -> bool:
    """Has `user` the rights to hold `task` (as a delegate or a reassignment's target)? An active
    user with `hold_permissions(task)`. (Whether they started its process is the gate's last check:
    segregation of duties.)"""
    if user is None or not user.is_active or not task.owner_permission:
        return False
    return all(user.has_perm(permission) for permission in hold_permissions(task))


# ---------------------------------------------------------------- the gate


def task_authorize(
    *,
    user: Any,
    task: Task,
    action: TaskAction | str,
    node: Any = None,
    process_pk: int | None = None,
    target: Any = None,
) -> None:
    """Raise unless `user` may take `action` on `task` now (see the module docstring for the
    checks and their order). `node` and `process_pk` are what the request named (a URL); `target`
    is who a delegation or reassignment hands the task to."""
    action = TaskAction(action)
    # 1. The task is the one the request names.
    if node is not None and task.flow_task != node:
        raise Http404("No such task at this step")
    if process_pk is not None and task.process_id != int(process_pk):
        raise Http404("No such task in this process")
    # 2. A people's task in a state that allows the action.
    if task.flow_task_type != "HUMAN":
        raise GateDenied("not_a_person_task", _("Task #%(task)s is an automated step.") % {"task": task.pk})
    if user is None or not user.is_authenticated or not user.is_active:
        raise GateDenied("anonymous", _("Log in first."))
    states = _STATES.get(action)
    if states is not None and task.status not in states:
        raise _unavailable(task, user)
    # 3. The right for this node.
    _right_check(user=user, task=task, action=action, target=target)
    # 4. The process is visible to the user (often the task in hand says so: no query).
    if not _task_shows_process(user, task) and not process_visible_to(user=user, process=task.process):
        raise GateDenied("not_visible", _("You may not see this process."))
    # 5. Segregation of duties.
    _duties_check(user=user, task=task, action=action, target=target)


def process_manage_authorize(*, user: Any, process: Any) -> None:
    """Raise unless `user` may fix `process` as its process manager (cancel it, retry or skip its
    failed steps): a superuser or a holder of the flow's manage permission
    (`<app>.manage_<model>`, the managers' role). Like the process page, it refuses those who may
    not see the process with a 403 that says no more."""
    if user is None or not user.is_authenticated or not user.is_active:
        raise GateDenied("anonymous", _("Log in first."))
    if not process_visible_to(user=user, process=process):
        raise GateDenied("not_visible", _("You may not see this process."))
    if not is_process_manager(user, process.flow_class):
        raise GateDenied("not_manager", _("Only a process manager may do this."))


def task_allows(*, user: Any, task: Task, action: TaskAction | str, target: Any = None) -> bool:
    """`task_authorize` as a yes or no, for pages that offer an action and for email links."""
    try:
        task_authorize(user=user, task=task, action=action, target=target)
    except (PermissionDenied, Http404):
        return False
    return True


def _right_check(*, user: Any, task: Task, action: TaskAction, target: Any) -> None:
    personal = task_is_personal(task)
    flow_class = task.flow_task.flow_class
    if action == TaskAction.VIEW:
        return
    if action == TaskAction.CLAIM:
        if personal or not task.owner_permission or not user.has_perm(task.owner_permission):
            raise GateDenied("not_candidate", _("You may not claim task #%(task)s.") % {"task": task.pk})
        return
    if personal and action in (TaskAction.RELEASE, *HANDING_ACTIONS):
        raise GateDenied(
            "personal",
            _("Task #%(task)s is yours alone: it cannot be released or handed over.") % {"task": task.pk},
        )
    if action == TaskAction.RELEASE:
        if task.owner_id != user.pk and not is_process_manager(user, flow_class):
            raise GateDenied("not_owner", _("Task #%(task)s is not yours.") % {"task": task.pk})
        return
    if action == TaskAction.DELEGATE:
        if task.owner_id != user.pk:
            raise _unavailable(task, user)
        if target is not None and target.pk == user.pk:
            raise GateDenied("self", _("Choose a colleague."))
    elif action == TaskAction.REASSIGN:
        if not is_process_manager(user, flow_class):
            raise GateDenied("not_manager", _("Only a process manager may reassign tasks."))
    elif action == TaskAction.RESCHEDULE:
        if not is_process_manager(user, flow_class):
            raise GateDenied("not_manager", _("Only a process manager may change a due time."))
        return
    elif action in EXECUTE_ACTIONS:
        if task.owner_id != user.pk:  # someone else holds it
            raise _unavailable(task, user)
        if (action == TaskAction.DECIDE) == personal:
            raise GateDenied("wrong_step", _("Task #%(task)s is not done that way.") % {"task": task.pk})
        return
    if action in HANDING_ACTIONS and (target is None or not may_hold(target, task)):
        raise GateDenied("target_not_eligible", _("%(user)s may not hold this task.") % {"user": target})


def _duties_check(*, user: Any, task: Task, action: TaskAction, target: Any) -> None:
    if task_is_personal(task) or action in (TaskAction.VIEW, TaskAction.RELEASE):
        return
    starter_id = registry.for_task(task).starter_id(task.process)
    if starter_id is None:
        return
    if action in (TaskAction.CLAIM, *EXECUTE_ACTIONS) and starter_id == user.pk:
        raise GateDenied(
            "own_request",
            _("Task #%(task)s is about your own request: someone else must decide it.") % {"task": task.pk},
        )
    if action in HANDING_ACTIONS and target is not None and starter_id == target.pk:
        raise GateDenied(
            "own_request",
            _("%(user)s started this request and may not decide it.") % {"user": target},
        )


def task_unavailable_reason(task: Task, user: Any) -> str | None:
    """Why `user` cannot act on `task` as they expected, in words (None: nothing changed hands)."""
    if task.status == STATUS.ASSIGNED and task.owner_id and user is not None and task.owner_id != user.pk:
        return _("Task #%(task)s is already claimed by %(owner)s.") % {
            "task": task.pk,
            "owner": task.owner.get_username(),
        }
    if task.status == STATUS.ASSIGNED and user is not None and task.owner_id == user.pk:
        # A claim sent twice (a double click, or a retry whose first answer was lost).
        return _("Task #%(task)s is already yours.") % {"task": task.pk}
    if task.status == STATUS.DONE:
        return _("Task #%(task)s is already done.") % {"task": task.pk}
    if task.status == STATUS.CANCELED:
        return _("Task #%(task)s was canceled.") % {"task": task.pk}
    return None


def _unavailable(task: Task, user: Any) -> PermissionDenied:
    """The task is not in the state the action needs (or someone else holds it): say what
    happened to those who may see its process, and nothing to anyone else."""
    if not process_visible_to(user=user, process=task.process):
        return GateDenied("not_visible", _("You may not see this process."))
    return TaskUnavailable(
        task_unavailable_reason(task, user)
        or _("Task #%(task)s changed meanwhile (now %(status)s).") % {"task": task.pk, "status": task.status}
    )


# ---------------------------------------------------------------- process visibility


def processes_visible_ids(*, user: Any, processes: Iterable[Any]) -> set[int]:
    """The ids of those `processes` that `user` may see: their pages, attachments, history and
    notifications. The one place that decides it.

    Superusers and a flow's managers see all of its processes; whoever started one sees it; anyone
    who holds or held one of its people's tasks, or may claim one (holds the permission of a task
    that is not personal), sees it. A personal task (the requester's revise task) makes its
    process visible to its owner only, whatever permission it names. Everyone else does not, even
    with the model-wide view permission. Process types whose descriptor says `visible_model_wide`
    keep viewflow's model-wide check. One query for the tasks, however many processes.
    """
    return _visible_ids(user, list(processes), _people_task_rows)


def processes_visible_ids_by_user(*, users: Iterable[Any], processes: Iterable[Any]) -> dict[int, set[int]]:
    """`processes_visible_ids` for each of `users` (by user id) at once, as a burst of notifications
    about the same processes asks: the same rule for each user, the task rows read in one query for
    all of them instead of one per user."""
    processes = list(processes)
    rows: list[tuple[Any, ...]] | None = None

    def task_rows(process_ids: list[int]) -> list[tuple[Any, ...]]:
        nonlocal rows
        if rows is None:
            rows = _people_task_rows([process.pk for process in processes])
        wanted = set(process_ids)
        return [row for row in rows if row[0] in wanted]

    return {user.pk: _visible_ids(user, processes, task_rows) for user in users}


def _people_task_rows(process_ids: list[int]) -> list[tuple[Any, ...]]:
    # A start from code (a StartHandle: START) counts for the person it was started for.
    return list(
        Task.objects.filter(
            process_id__in=process_ids, flow_task_type__in=(*PEOPLE_TASK_TYPES, "START")
        ).values_list("process_id", "owner_id", "owner_permission", "flow_task", "flow_task_type")
    )


def _visible_ids(
    user: Any, processes: list[Any], task_rows: Callable[[list[int]], list[tuple[Any, ...]]]
) -> set[int]:
    if not user.is_authenticated or not user.is_active:
        return set()
    visible: set[int] = set()
    pending: dict[type, list[Any]] = defaultdict(list)
    for process in processes:
        flow = process.flow_class
        if user.is_superuser:
            visible.add(process.pk)
        elif registry.for_flow(flow).visible_model_wide:
            if flow.instance.has_view_permission(user):
                visible.add(process.pk)
        elif flow.instance.has_manage_permission(user):
            visible.add(process.pk)
        else:
            pending[flow].append(process)
    rest = [p.pk for flow_processes in pending.values() for p in flow_processes]
    if rest:
        for process_id, owner_id, permission, node, task_type in task_rows(rest):
            if owner_id == user.pk or (
                task_type == "HUMAN"
                and permission
                and not node_is_personal(node)
                and user.has_perm(permission)
            ):
                visible.add(process_id)
    return visible


def _task_shows_process(user: Any, task: Task) -> bool:
    """Does `task` itself (a people's task, as loaded) make its process visible to `user` by the
    rule of `processes_visible_ids`? Yes if its type is not visible model-wide and `user` holds it,
    or may claim it (it is not personal and names a permission `user` has). No says nothing: ask
    `process_visible_to`, which reads all of the process's tasks."""
    if task.flow_task_type != "HUMAN" or registry.for_flow(task.flow_task.flow_class).visible_model_wide:
        return False
    if task.owner_id is not None and task.owner_id == user.pk:
        return True
    return bool(task.owner_permission) and not task_is_personal(task) and user.has_perm(task.owner_permission)


def process_visible_to(*, user: Any, process: Any) -> bool:
    """May `user` see this process? (processes_visible_ids for one process.)"""
    return process.pk in processes_visible_ids(user=user, processes=[process])
