"""Which of viewflow's generated pages a process type gets, and the gate in front of each.

viewflow routes a dozen views per flow and up to eight per node. Its task views load a task by
the id in the URL and check only that the user holds it: never that the task belongs to the node
named in the URL, and they lock the process id written in the URL, not the task's own. Its
dashboards and lists show every process to anyone with the model-wide view permission, and its
`unassign` releases tasks the flow gave one person. So a process type's app routes only what the
portal needs, and every task page goes through the gate (processes.gate):

- the app: its index, inbox, queue and archive send people to the portal's task list (filtered
  to the process type); the process page and its diagram (each checks the process's visibility);
  cancelling a process (managers); nothing else (no dashboard, process or task lists, no bulk
  assign or unassign);
- a start node: its form;
- a people's task node (`flow.View`): its index (which sends the user on to the right page),
  detail, claim (viewflow's `assign`) and form (`execute`), each gated; no unassign, undo,
  cancel, revive or reassign (the portal's own claim, release, delegate and reassign pages, and
  the admin's actions, go through the gate in processes.services);
- every other node (automated steps, gates, timers, ends): no page at all. Failed automated
  steps are retried or skipped on the Operations pages.
"""

from __future__ import annotations

from functools import update_wrapper
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect
from django.urls import URLResolver, path, reverse
from django.views import View
from viewflow.fsm import TransitionNotAllowed
from viewflow.workflow.fields import get_flow_ref
from viewflow.workflow.flow import FlowAppViewset
from viewflow.workflow.models import Task
from viewflow.workflow.nodes import Start
from viewflow.workflow.nodes import View as ViewNode

from processes.gate import TaskAction, execute_action, node_is_personal, task_authorize
from processes.locks import flow_locked
from processes.pages import ProcessChartView, ProcessDetailView
from processes.selectors import process_with_subclass
from processes.views import ProcessCancelView

# A people's task node's pages: URL name -> (the node's view attribute, the gate's action).
# None as the action: executing the task (DECIDE or EDIT, by its node).
_TASK_PAGES: dict[str, tuple[str, TaskAction | None]] = {
    "index": ("index_view", TaskAction.VIEW),
    "detail": ("detail_view", TaskAction.VIEW),
    "assign": ("assign_view", TaskAction.CLAIM),
    "execute": ("view", None),
}
_TASK_PAGE_PATHS = {
    "index": "",
    "detail": "detail/",
    "assign": "assign/",
    "execute": "execute/",
}


def gated_task_view(node: Any, origin_view: Any, action: TaskAction | None) -> Any:
    """viewflow's task view behind the gate: the task is loaded by its id AND its process AND its
    node (else 404), a POST locks the task's own process, and the gate decides under that lock
    before the view (and its activation) runs."""
    action = action or execute_action(node)

    def view(request, process_pk: int, task_pk: int, **kwargs):
        def call(task: Any):
            if task is None or task.flow_task != node:
                raise Http404("No such task at this step")
            task_authorize(user=request.user, task=task, action=action, node=node, process_pk=process_pk)
            request.activation = node.activation_class(task)
            if action in (TaskAction.DECIDE, TaskAction.EDIT):
                request.activation.start(request)
            return origin_view(request, process_pk=process_pk, task_pk=task_pk, **kwargs)

        try:
            if request.method == "POST":
                # The task read under the lock of the node's flow, with its process and who
                # started it (processes/locks.py), in the lock's round trip: nothing is read
                # before it. A task of another process or another step is a 404, as one that
                # does not exist. No savepoint of its own: the lock's block is one already (a
                # flow with a lock that opens no transaction gets it here).
                with (
                    flow_locked(node.flow_class, process_pk, task_pk, starter=True) as found,
                    transaction.atomic(savepoint=False),
                ):
                    task, process = found or (None, None)
                    if task is not None and process is not None:
                        task.process = process
                    return call(task)
            task = Task.objects.filter(pk=task_pk, process_id=process_pk).first()
            if task is not None and task.flow_task == node:
                process = process_with_subclass(task.process_id, node.flow_class)  # once, as its own model
                if process is not None:
                    task.process = process
            return call(task)
        except TransitionNotAllowed as exc:
            raise PermissionDenied(",".join(str(arg) for arg in exc.args)) from exc

    update_wrapper(view, origin_view)
    view.gate_action = action  # type: ignore[attr-defined]  # read by the authorization matrix test
    return view


def _node_patterns(node: Any) -> list[Any]:
    """The routes a node keeps (see the module docstring); its own are built already."""
    if isinstance(node, Start):
        return [p for p in node._urls_cache if getattr(p, "name", None) == "execute"]
    if not isinstance(node, ViewNode):
        return []
    patterns = []
    for name, (attribute, action) in _TASK_PAGES.items():
        origin = getattr(node, attribute)
        if origin is None or (name == "assign" and node_is_personal(node)):  # nobody claims those
            continue
        patterns.append(
            path(
                f"<int:process_pk>/{node.name}/<int:task_pk>/{_TASK_PAGE_PATHS[name]}",
                gated_task_view(node, origin, action),
                name=name,
            )
        )
    return patterns


class TaskListRedirectView(View):
    """A process type's own lists are the portal's task list, filtered to that type."""

    page = "inbox"
    flow_class: Any = None

    def get(self, request, *args, **kwargs):
        query = urlencode({"flow": get_flow_ref(self.flow_class)})
        return redirect(f"{reverse(f'tasks:{self.page}:index')}?{query}")


class GatedFlowAppViewset(FlowAppViewset):
    """A process type's app with only the pages the portal needs, each behind the gate. The
    process page and its diagram check the process's visibility (processes.gate), not the flow's
    model-wide view permission, so a plug-in that keeps this default is safe too."""

    process_detail_view_class = ProcessDetailView
    process_cancel_view_class = ProcessCancelView
    chart_view_class = ProcessChartView

    process_list_path = None
    task_list_path = None
    tasks_assign_path = None
    tasks_unassign_path = None

    @property
    def index_path(self):
        return path("", self._lists_redirect("inbox"), name="index")

    @property
    def inbox_path(self):
        return path("inbox/", self._lists_redirect("inbox"), name="inbox")

    @property
    def queue_path(self):
        return path("queue/", self._lists_redirect("queue"), name="queue")

    @property
    def archive_path(self):
        return path("archive/", self._lists_redirect("archive"), name="archive")

    def _lists_redirect(self, page: str):
        return TaskListRedirectView.as_view(page=page, flow_class=self._flow_class)

    def _get_urls(self):
        patterns = super()._get_urls()
        flow = self._flow_class.instance
        # viewflow built each node's routes (node._urls_cache, inside an include named after the
        # node) into the flow's own list: keep each node's gated pages, and drop the include of a
        # node that keeps none. The lists are changed in place: the resolvers hold them.
        kept_nodes = set()
        for node in flow.nodes():
            node._urls_cache[:] = _node_patterns(node)
            if node._urls_cache:
                kept_nodes.add(node.name)
        flow._urls_cache[:] = [
            entry
            for entry in flow._urls_cache
            if not isinstance(entry, URLResolver) or entry.namespace in kept_nodes
        ]
        return patterns
