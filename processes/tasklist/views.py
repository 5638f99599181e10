"""Task list pages and actions. Thin: the filter form and the selectors read, the services act."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.formats import get_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from viewflow.workflow.exceptions import FlowLockFailed
from viewflow.workflow.models import Task

from processes import services
from processes.absences.selectors import absences_concerning, tasks_on_behalf
from processes.gate import task_is_personal
from processes.languages.formats import MoneyFormatter
from processes.redirects import safe_next_url
from processes.tasklist import saved_selectors, saved_services, selectors
from processes.tasklist.exceptions import TaskUnavailable
from processes.tasklist.forms import SavedFilterForm, TaskFilterForm, TaskHandOverForm
from processes.tasklist.models import TaskRow
from processes.tasklist.rendering import RowsRenderer, control_html, filter_fields_html

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

PAGE_SIZE = 25
COUNT_CAP = 1000  # a list counts up to here ("1,000+"): counting 20,000 archived rows is the slow part


class CappedPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows (`SELECT COUNT(*) FROM (... LIMIT 1001)`), so a page's
    cost does not grow with the user's history; past the cap, filters narrow the list."""

    @property
    def count(self) -> int:
        if not hasattr(self, "_capped_count"):
            self._capped_count = self.object_list[: COUNT_CAP + 1].count()  # type: ignore[attr-defined]  # a QuerySet
        return min(self._capped_count, COUNT_CAP)

    @property
    def capped(self) -> bool:
        return self.count == COUNT_CAP and self._capped_count > COUNT_CAP


BUSY = gettext_lazy("Someone else is acting on this task right now. Try again in a moment.")


_A, _B = 987654321, 876543219  # placeholder ids: reverse once per page, then fill in


def _pattern(reverse, name: str, count: int):
    """`reverse(name, args)` once, as a function of the ids (a page has some 75 links to build)."""
    url = reverse(name, args=[_A, _B][:count])
    return lambda *ids: url.replace(str(_A), str(ids[0]), 1).replace(str(_B), str(ids[-1]), 1)


def task_page_url(row: TaskRow, patterns: dict | None = None) -> str:
    """Viewflow's own page of the task (its form for the holder, its details for others)."""
    node = getattr(row.flow, row.node, None)
    if node is None:
        return ""
    patterns = {} if patterns is None else patterns
    if node not in patterns:
        patterns[node] = _pattern(node.reverse, "index", 2)
    return patterns[node](row.process_id, row.task_id)


def _moment(value, format_string: str) -> str:
    """A time as the lists show it: the current time zone, the active language's short format
    (`format_string`, looked up once per page)."""
    return dateformat.format(timezone.localtime(value), format_string) if value is not None else ""


def _age(delta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return _("%(n)s min") % {"n": max(minutes, 0)}
    if minutes < 48 * 60:
        return _("%(n)s h") % {"n": minutes // 60}
    return _("%(n)s d") % {"n": minutes // (24 * 60)}


class TaskListView(View):
    """One task list page: the rows `rows()` returns, filtered and sorted from the URL."""

    page = ""
    title: StrOrPromise = ""
    empty: StrOrPromise = ""
    default_sort = "due"
    # The live machinery (processes/live.py) re-renders watched pages of this kind in place.
    live_watchable = True
    actions: tuple[str, ...] = ()

    def rows(self, user: Any):
        raise NotImplementedError

    def flows(self, user: Any) -> list[type]:
        return selectors.flows_listed_for(user)

    def get(self, request):
        return self.render_list(request, request.GET)

    def render_list(self, request, params, *, save_form: SavedFilterForm | None = None, status: int = 200):
        """The page for the filters in `params` (a QueryDict); `save_form`: a refused "save
        filter" form to show with its errors (SavedFilterCreateView)."""
        user = request.user
        stages = selectors.stage_names()
        form = TaskFilterForm(params or None, flows=self.flows(user), stages=stages)
        spec = form.spec(self.default_sort)
        page = CappedPaginator(selectors.task_rows_filter(self.rows(user), spec), PAGE_SIZE).get_page(
            params.get("page")
        )
        now = timezone.now()
        app = request.resolver_match.app
        pages: dict = {}
        actions = {action: _pattern(app.reverse, action, 1) for action in self.actions}
        query = params.copy()
        query.pop("page", None)
        list_url = request.path if request.method == "GET" else reverse(f"tasks:{self.page}:index")
        here = request.get_full_path() if request.method == "GET" else f"{list_url}?{query.urlencode()}"
        moment_format = get_format("SHORT_DATETIME_FORMAT")
        money = MoneyFormatter()
        context = {
            "page": self.page,
            "title": self.title,
            "empty": self.empty,
            "form": form,
            "page_obj": page,
            "query": query.urlencode(),
            "here": here,
            "list_url": list_url,
            "bulk_claim_url": app.reverse("bulk_claim"),
            "starts": selectors.start_actions_for(user),
            "rows": [
                {
                    "row": row,
                    "url": task_page_url(row, pages),
                    "overdue": row.is_overdue(now),
                    "flow_title": row.kind or (row.flow.process_title if row.flow else ""),
                    # a task the flow assigns (the requester's revise task) is never handed on
                    "personal": row.flow is not None
                    and getattr(getattr(row.flow, row.node, None), "_owner", None) is not None,
                    "amount": money(row.amount, row.currency),
                    "due": _moment(row.due_at, moment_format),
                    "age": _moment(row.finished, moment_format)
                    if self.page == "archive"
                    else _age(now - row.created),
                    **{f"{action}_url": url(row.task_id) for action, url in actions.items()},
                }
                for row in page.object_list
            ],
        }
        # Out-of-office (ADR 0023): the banner, and the rows held on behalf of someone away.
        away, standing_in = absences_concerning(user)
        context["away"], context["standing_in"] = away, standing_in
        if standing_in and self.page == "inbox" and context["rows"]:
            on_behalf = tasks_on_behalf(item["row"].task_id for item in context["rows"])
            for item in context["rows"]:
                item["on_behalf"] = on_behalf.get(item["row"].task_id, "")
        context["filter_fields"] = filter_fields_html(form)
        context["rows_html"] = RowsRenderer(page=self.page, here_quoted=quote(here, safe="")).render(
            context["rows"]
        )
        if self.page in saved_selectors.LIST_ROWS:
            context.update(self.saved_filters_context(user, form, stages, save_form))
        return TemplateResponse(request, "processes/tasklist/list.html", context, status=status)

    def saved_filters_context(self, user, form, stages, save_form) -> dict[str, Any]:
        """Saved filters (issue 18): this list's (own and shared), the pinned ones of every list
        with their counts, and the form that saves the current filters."""
        visible = saved_selectors.saved_filters_visible_list(user)
        current = form.query_string() if form.is_bound and form.is_valid() else ""
        if save_form is None and current:
            save_form = SavedFilterForm(initial={"page": self.page, "query": current}, user=user)
        pinned = saved_selectors.pinned_counts(user, visible, stages=stages)
        return {
            "saved_filters": [
                {
                    "saved": saved,
                    "url": saved_selectors.saved_filter_url(saved),
                    "own": saved.owner_id == user.pk,
                }
                for saved in visible
                if saved.page == self.page
            ],
            # the drawer shows these too (portal_menu.pinned_filters), not counted twice
            "pinned": [
                {
                    "saved": item.saved,
                    "url": saved_selectors.saved_filter_url(item.saved),
                    "count": item.label,
                }
                for item in pinned
            ],
            "save_form": save_form,
            # its controls written in Python, as the filter form's (rendering.py)
            "save_controls": {bound.name: control_html(bound) for bound in save_form} if save_form else {},
            "saved_filter_create_url": reverse("tasks:saved_filter_create"),
        }


class InboxView(TaskListView):
    page, title = "inbox", gettext_lazy("Inbox")
    actions = ("unclaim", "delegate")
    empty = gettext_lazy("Nothing assigned to you. Claim a task from the queue.")

    def rows(self, user):
        return selectors.task_rows_inbox(user)


class QueueView(TaskListView):
    page, title = "queue", gettext_lazy("Queue")
    actions = ("claim",)
    empty = gettext_lazy("Your groups' queue is empty.")

    def rows(self, user):
        return selectors.task_rows_queue(user)


class ArchiveView(TaskListView):
    page, title = "archive", gettext_lazy("Archive")
    empty = gettext_lazy("You have not finished any task yet.")
    default_sort = "finished"

    def rows(self, user):
        return selectors.task_rows_archive(user)


class TeamView(TaskListView):
    page, title = "team", gettext_lazy("My team's open tasks")
    actions = ("reassign",)
    empty = gettext_lazy("No open tasks in the processes you manage.")

    def flows(self, user):
        return selectors.flows_managed_by(user)

    def get(self, request):
        if not selectors.may_see_team(request.user):
            raise PermissionDenied
        return super().get(request)

    def rows(self, user):
        return selectors.task_rows_team(user)


# ---------------------------------------------------------------- actions (POST only)


class _TaskActionView(View):
    http_method_names = ["post"]

    def task(self, user: Any, task_pk: int) -> Task:
        """The task, if `user` may reach it at all (candidate, holder or manager): else a 404."""
        row = selectors.task_row_reachable(user, task_pk)
        if row is None:
            raise Http404("No such task")
        task = Task.objects.get(pk=task_pk)  # its process is read under the lock (services)
        selectors.task_row_stage_keep(task, row.stage_name, row.due_at)  # for the action's metrics
        return task

    def task_to_lock(self, user: Any, task_pk: int) -> Task:
        """The task, if `user` may reach it at all, as its list row names it (its id, process and
        step) for a service that reads it whole under the flow lock: nothing is read twice. The
        row and the task are one-to-one, so a row names a task that exists (else the lock's read
        says it is gone)."""
        row = selectors.task_row_reachable(user, task_pk)
        if row is None:
            raise Http404("No such task")
        return selectors.task_named_by_row(row) or self.task(user, task_pk)

    def next_url(self, value: str | None) -> str:
        """A user-supplied `next`, if it is one of this site's paths; else the task list."""
        return safe_next_url(self.request, value, self.request.resolver_match.app.reverse("index"))  # type: ignore[union-attr]  # viewflow sets .app

    def back(self, request):
        return HttpResponseRedirect(self.next_url(request.POST.get("next")))

    def act(self, request, action, success: str):
        try:
            action()
        except TaskUnavailable as exc:
            messages.error(request, str(exc))
        except FlowLockFailed:
            messages.error(request, BUSY)
        except PermissionDenied as exc:
            messages.error(request, str(exc) or _("You may not do that."))
        else:
            messages.success(request, success)
        return self.back(request)


class ClaimView(_TaskActionView):
    def post(self, request, task_pk: int):
        task = self.task_to_lock(request.user, task_pk)
        return self.act(
            request,
            lambda: services.task_claim(task=task, user=request.user),
            _("Task #%(task)s is yours now.") % {"task": task_pk},
        )


class UnclaimView(_TaskActionView):
    def post(self, request, task_pk: int):
        task = self.task_to_lock(request.user, task_pk)
        return self.act(
            request,
            lambda: services.task_unclaim(task=task, user=request.user),
            _("Task #%(task)s is back in the queue.") % {"task": task_pk},
        )


class BulkClaimView(_TaskActionView):
    def post(self, request):
        ids = sorted({int(value) for value in request.POST.getlist("task") if value.isdigit()})[:100]
        reachable = [pk for pk in ids if selectors.task_row_reachable(request.user, pk) is not None]
        if not reachable:
            messages.error(request, _("Select the tasks to claim."))
            return self.back(request)
        claimed, failed = services.tasks_claim_bulk(task_ids=reachable, user=request.user)
        # One message: the portal's snackbar shows the last one only.
        parts = list(failed)
        if claimed:
            numbers = ", ".join(f"#{task.pk}" for task in claimed)
            parts.insert(
                0, _("Claimed %(count)s tasks: %(tasks)s.") % {"count": len(claimed), "tasks": numbers}
            )
        text = " ".join(parts)
        (messages.warning if failed else messages.success)(request, text)
        return self.back(request)


class _HandOverView(_TaskActionView):
    """GET: the form offering the eligible colleagues; POST: hand the task over."""

    http_method_names = ["get", "post"]
    heading: StrOrPromise = ""
    service: Callable[..., Task] | None = None

    def allowed(self, user: Any, task: Task) -> bool:
        raise NotImplementedError

    def users(self, task: Task, user: Any):
        return selectors.task_eligible_users(task, exclude=user)

    def prepare(self, request, task_pk: int):
        task = self.task(request.user, task_pk)
        if not self.allowed(request.user, task):
            raise PermissionDenied
        return task, TaskHandOverForm(request.POST or None, users=self.users(task, request.user))

    def render(self, request, task, form, status=200):
        row = TaskRow.objects.filter(pk=task.pk).first()
        return TemplateResponse(
            request,
            "processes/tasklist/hand_over.html",
            {
                "heading": self.heading,
                "task": task,
                "row": row,
                "form": form,
                "next": self.next_url(request.GET.get("next")),
            },
            status=status,
        )

    def get(self, request, task_pk: int):
        task, form = self.prepare(request, task_pk)
        return self.render(request, task, form)

    def post(self, request, task_pk: int):
        task, form = self.prepare(request, task_pk)
        if not form.is_valid():
            return self.render(request, task, form, status=422)
        to_user = form.cleaned_data["to_user"]
        service = type(self).service
        assert service is not None, "each hand-over view names its service"
        return self.act(
            request,
            lambda: service(task=task, user=request.user, to_user=to_user),
            _("Task #%(task)s is now with %(user)s.") % {"task": task.pk, "user": to_user.get_username()},
        )


class DelegateView(_HandOverView):
    heading = gettext_lazy("Delegate to a colleague")
    service = staticmethod(services.task_delegate)

    def allowed(self, user, task):
        if task_is_personal(task):  # the flow gave it to one person: never handed over (the gate)
            return False
        return task.owner_id == user.pk or task.status != "ASSIGNED"  # a changed task: the service says so


class ReassignView(_HandOverView):
    heading = gettext_lazy("Reassign")
    service = staticmethod(services.task_reassign)

    def allowed(self, user, task):
        if task_is_personal(task):  # the flow gave it to one person: never handed over (the gate)
            return False
        return task.flow_task.flow_class.instance.has_manage_permission(user)

    def users(self, task, user):
        return selectors.task_eligible_users(task)


# ---------------------------------------------------------------- saved filters (POST only)

LIST_VIEWS: dict[str, type[TaskListView]] = {"inbox": InboxView, "queue": QueueView, "archive": ArchiveView}


class SavedFilterCreateView(View):
    """Save the list's current filters. Refused input: the list again, the form with its errors (422)."""

    http_method_names = ["post"]

    def post(self, request):
        form = SavedFilterForm(request.POST, user=request.user)
        page = request.POST.get("page", "")
        view_class = LIST_VIEWS.get(page, InboxView)
        query = QueryDict(str(request.POST.get("query", ""))[:500])
        if form.is_valid():
            data = form.cleaned_data
            try:
                saved = saved_services.saved_filter_create(
                    owner=request.user,
                    name=data["name"],
                    page=data["page"],
                    query=data["query"],
                    shared_with=data["shared_with"],
                )
            except ValidationError as exc:
                _errors_onto(form, exc)
            else:
                messages.success(request, _("Filter “%(name)s” saved.") % {"name": saved.name})
                return HttpResponseRedirect(saved_selectors.saved_filter_url(saved))
        view = view_class()
        view.setup(request)
        return view.render_list(request, query, save_form=form, status=422)


def _errors_onto(form: SavedFilterForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


class _SavedFilterChangeView(View):
    """A change to a saved filter: 404 for one the user cannot see, 403 for one they do not own."""

    http_method_names = ["post"]

    def back(self, request):
        return HttpResponseRedirect(
            safe_next_url(request, request.POST.get("next"), reverse("tasks:inbox:index"))
        )


class SavedFilterPinView(_SavedFilterChangeView):
    def post(self, request, filter_pk: int):
        saved = saved_selectors.saved_filter_for_change(request.user, filter_pk)
        pinned = request.POST.get("pinned") == "1"
        saved_services.saved_filter_pin(saved=saved, user=request.user, pinned=pinned)
        return self.back(request)


class SavedFilterRenameView(_SavedFilterChangeView):
    def post(self, request, filter_pk: int):
        saved = saved_selectors.saved_filter_for_change(request.user, filter_pk)
        before = saved.name
        try:
            saved_services.saved_filter_rename(
                saved=saved, user=request.user, name=request.POST.get("name", "")
            )
        except ValidationError as exc:
            messages.error(
                request,
                _("Filter “%(name)s” not renamed: %(why)s") % {"name": before, "why": " ".join(exc.messages)},
            )
        else:
            messages.success(request, _("Filter renamed to “%(name)s”.") % {"name": saved.name})
        return self.back(request)


class SavedFilterDeleteView(_SavedFilterChangeView):
    def post(self, request, filter_pk: int):
        saved = saved_selectors.saved_filter_for_change(request.user, filter_pk)
        saved_services.saved_filter_delete(saved=saved, user=request.user)
        messages.success(request, _("Filter “%(name)s” deleted.") % {"name": saved.name})
        return self.back(request)
