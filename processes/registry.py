"""The process registry: everything the core knows about a process type, from its descriptor.

The core (this package, minus the plug-ins under it) knows no process. Each process plug-in
(`processes/purchase/`, `processes/orders/`, or any installed app) has a `descriptor` module that
registers one `ProcessDescriptor` subclass for its flow; `autodiscover()`, called from
`ProcessesConfig.ready`, imports every installed app's `descriptor` module, the way Django's
admin finds `admin` modules. Where the core needs process knowledge (a task list's columns, an
email's summary, a decision taken through an email link or by escalation, a history label), it
asks `registry.for_task(task)` or `registry.for_process(process)` and calls the hook.

Every hook has a default, so a minimal process is its flow and nothing else:

    @register
    class ExpenseDescriptor(ProcessDescriptor):
        flow = ExpenseFlow

A second registration of the same flow, or a descriptor without a flow, fails at start-up
(`AlreadyRegistered`, `ImproperlyConfigured`); asking about a flow nobody registered raises
`NotRegistered`: never a silent default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import autodiscover_modules
from viewflow.workflow.fields import get_flow_ref
from viewflow.workflow.models import Task
from viewflow.workflow.nodes import CompensateThrow

from processes.policies.sla import stage_due_at
from processes.tasklist.models import Priority

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
    from viewflow.urls import Viewset
    from viewflow.workflow.flow import Flow
    from viewflow.workflow.models import Process

    from processes.policies.models import PolicyStage

DESCRIPTOR_MODULE = "descriptor"


class AlreadyRegistered(ImproperlyConfigured):
    """A flow was registered twice (two descriptors, or one module imported under two names)."""


class NotRegistered(LookupError):
    """No descriptor is registered for this flow: its app has no `descriptor` module, or the app
    is not installed."""


@dataclass(frozen=True)
class TaskColumns:
    """What the task lists show of one task, besides its step and holder."""

    subject: str = ""
    requester: str = ""
    amount: Decimal | None = None
    currency: str = ""
    stage_name: str = ""
    priority: int = Priority.NORMAL
    due_at: datetime | None = None
    #: The process type's own name when one flow runs several (the process catalog's types);
    #: empty: the flow's title.
    kind: str = ""
    #: More words the task list's search finds the task by (a catalog request's choices and
    #: short texts), besides its subject and requester.
    keywords: str = ""


@dataclass(frozen=True)
class KindFilter:
    """A task list filter on one of a process type's own fields (a choice): its name, label and
    options as (value, label) pairs."""

    name: str
    label: str
    choices: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ApiStartType:
    """A process type a caller may start through the API (`POST /api/v1/processes`): its `kind`
    (the type's own name when one flow runs several, a catalog type's slug; "" otherwise), its
    title, and the JSON Schema of the `data` its start takes."""

    kind: str
    title: str
    schema: Mapping[str, Any]


class ApiStartInvalid(Exception):
    """The data of an API start is not valid: messages by field name ("" for the whole)."""

    def __init__(self, errors: Mapping[str, Sequence[str]]) -> None:
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))
        self.errors = {field: [str(msg) for msg in msgs] for field, msgs in errors.items()}


def validation_errors(exc: Any) -> dict[str, list[str]]:
    """A Django ValidationError's messages by field ("" for those of no field)."""
    if hasattr(exc, "error_dict"):
        return {("" if field == "__all__" else field): list(msgs) for field, msgs in exc.message_dict.items()}
    return {"": list(exc.messages)}


@dataclass(frozen=True)
class MenuEntry:
    """One link in the site menu."""

    title: str
    icon: str
    url: str


def start_tasks(process_pk: Any) -> Any:
    """The start tasks of process `process_pk`, first first: the default starter is the owner of
    the first (`ProcessDescriptor.starter_id`)."""
    return Task.objects.filter(process_id=process_pk, flow_task_type__in=("HUMAN_START", "START")).order_by(
        "pk"
    )


def starter_keep(process: Any, starter_id: int | None) -> None:
    """Keep who started `process` on it, for `ProcessDescriptor.starter_id` (a start task's owner
    never changes; a None is not kept: a process still being started is asked again)."""
    if starter_id is not None:
        process._starter_id = starter_id


class ProcessDescriptor:
    """What the core asks a process type. Subclass it in the plug-in's `descriptor` module, set
    `flow`, and override only what differs from the defaults. Hooks that take a process get it as
    the process type's own model (`process.coerced`), except `starter_id` (see there)."""

    #: The viewflow Flow class this descriptor describes (required).
    flow: ClassVar[type[Flow]]
    #: The menu's icon (a Material icon name) for the process type's app.
    icon: ClassVar[str] = "account_tree"
    #: The process type's pages on the site (start form, process page, task pages): a subclass of
    #: processes.flowapp.GatedFlowAppViewset, or None for that class itself (processes/site.py).
    viewset_class: ClassVar[type[Viewset] | None] = None
    #: The portal's groups and the permissions each one holds for this process type
    #: (`roles_sync` merges the roles of every descriptor).
    roles: ClassVar[Mapping[str, Sequence[str]]] = {}
    #: Audit actions this process writes (`purchase.approved`, ...) and their words in a process's
    #: history, marked with gettext_noop (translated when shown). Actions that no descriptor and no
    #: core module labels are shown by their name.
    history_labels: ClassVar[Mapping[str, str]] = {}
    #: Who may see one process: False (the default) for per-process visibility (its starter, the
    #: people who hold or may claim its tasks, its managers); True for everyone with the process
    #: model's `view_` permission (viewflow's model-wide rule).
    visible_model_wide: ClassVar[bool] = False
    #: The nodes whose tasks are decided with a yes or no (`decide`): the ones escalation emails
    #: with Approve and Reject links and may decide automatically.
    decision_nodes: ClassVar[Sequence[str]] = ()
    #: The audit actions `decide` writes for a yes and for a no: an email link whose task was
    #: decided meanwhile says who decided it, and how, from them.
    decision_actions: ClassVar[tuple[str, str]] = ("decision.approved", "decision.rejected")
    #: The process model's foreign key to the approval policy version it pinned (None: this
    #: process type uses no approval policy). The policy admin counts running processes by it.
    policy_field: ClassVar[str | None] = None

    # ------------------------------------------------------------------ people

    def starter_id(self, process: Process) -> int | None:
        """Who started `process` (segregation of duties: she never decides it). Default: the
        owner of its start task, a form's or a StartHandle's a person started through the API
        (None when a system started it). The gate asks on every check,
        with viewflow's base row: an override reads `process.coerced` for its own fields.
        Read once per process instance: a start task's owner never changes (a None is not kept,
        so a process still being started is asked again)."""
        known = getattr(process, "_starter_id", None)
        if known is not None:
            return known
        starter_id = start_tasks(process.pk).values_list("owner_id", flat=True).first()
        starter_keep(process, starter_id)
        return starter_id

    def menu_entries(self, user: AbstractBaseUser | AnonymousUser) -> list[MenuEntry] | None:
        """The site menu's entries for this process type, for `user`: None (the default) for the
        app's own entry, shown to whoever may view the app. A plug-in that runs several types
        defined as data lists one entry per type the user may start, read at each page."""
        return None

    def start_entries(self, user: AbstractBaseUser | AnonymousUser) -> list[MenuEntry] | None:
        """What `user` may start of this process type, as the task list's "New ..." buttons: None
        (the default) for the flow's start nodes with a form that `user` may execute."""
        return None

    def type_title(self, process: Process) -> str:
        """The name of `process`'s type, for its pages' titles and breadcrumbs and its email
        links: the flow's title, or the type's own name when one flow runs several."""
        return self.title

    def diagram_svg(self, process: Process) -> str | None:
        """The process page's diagram of `process` with where it is, as inline SVG; None (the
        default) for the flow's own chart. A plug-in whose flow runs several types draws the
        type's own steps (processes.bpmn.bpmn_svg)."""
        return None

    # ------------------------------------------------------------------ words

    def summary(self, process: Process) -> str:
        """One line about `process` for lists, notifications, emails and link pages."""
        return str(getattr(process, "brief", "") or f"#{process.pk}")

    def history_detail(self, action: str, details: Mapping[str, Any]) -> str:
        """The detail column of one of this process's own audit actions in its history."""
        return ""

    # ------------------------------------------------------------------ the task lists

    def stage(self, task: Task, process: Process) -> PolicyStage | None:
        """The approval stage `task` decides (its SLA, reminder and escalation levels), or None."""
        return None

    def columns(self, task: Task, process: Process, stage: PolicyStage | None = None) -> TaskColumns:
        """The task list's columns for `task` of `process`. Default: the summary as subject, the
        step's title as stage, and the stage's due time when `stage` says one."""
        stage = stage if stage is not None else self.stage(task, process)
        node = task.flow_task
        title = str(node.task_title or node.name)
        return TaskColumns(
            subject=self.summary(process),
            stage_name=(task.data or {}).get("stage_name") or getattr(stage, "name", "") or title,
            due_at=stage_due_at(stage, task.created) if stage is not None else None,
        )

    def kinds(self) -> list[str]:
        """The names of the process types this flow runs when it runs several (TaskColumns.kind),
        for the task list's process filter; [] (the default): the flow is one type."""
        return []

    def kind_filters(self, kind: str) -> list[KindFilter]:
        """The task list's filters on the own fields of the process type named `kind` (one of
        `kinds()`), shown when the list is filtered to that type; [] (the default): none."""
        return []

    def kind_filter_processes(self, kind: str, values: Mapping[str, str]) -> Any:
        """The ids of the processes of type `kind` whose fields hold `values` (filter name ->
        chosen value, from `kind_filters`), as a queryset of primary keys."""
        raise NotImplementedError(f"{type(self).__name__} offers no filters on its types' fields")

    def stage_names(self) -> set[str]:
        """The stage names the task list's stage filter offers for this process type: each people's
        step by title (the approval stages of policies are added by the core)."""
        names = set()
        for node in self.flow.instance.nodes():
            if getattr(node, "task_type", "") == "HUMAN" and node.name not in self.decision_nodes:
                names.add(str(node.task_title or node.name))
        return names

    # ------------------------------------------------------------------ decisions

    def decides(self, task: Task) -> bool:
        """Is `task` decided with a yes or no (email links, automatic decisions)?"""
        return task.flow_task.name in self.decision_nodes

    def decide(
        self, *, task: Task, user: AbstractBaseUser | AnonymousUser, approved: bool, comment: str
    ) -> None:
        """`user` approves or rejects `task` (an email link's decision). Runs inside the caller's
        transaction, after the gate allowed it."""
        raise NotImplementedError(f"{type(self).__name__} takes no yes-or-no decisions")

    def decide_automatically(self, *, activation: Any, approved: bool, comment: str) -> None:
        """The system approves or rejects the started task of `activation` (an escalation level's
        automatic decision); the flow goes on as after a person's decision."""
        raise NotImplementedError(f"{type(self).__name__} takes no automatic decisions")

    # ------------------------------------------------------------------ fixing a running instance

    def compensation_node(self) -> Any:
        """The node a process manager's cancel runs instead of a bare cancel: the flow's
        compensation path (a `flow.CompensateThrow`, which undoes the done steps by their
        `.CompensateWith` handlers and goes on to its own end). Default: the flow's only
        CompensateThrow node; None when it has none (or several: then say which)."""
        found = [node for node in self.flow.instance.nodes() if isinstance(node, CompensateThrow)]
        return found[0] if len(found) == 1 else None

    # ------------------------------------------------------------------ the API

    def api_start_types(self, *, user: Any, system: bool) -> list[ApiStartType]:
        """What the caller may start of this process type through the API. `user` is the person
        calling (her session) or the service account an API client acts as (None if it has
        none); `system` says an API client calls. Default: nothing (not startable by the API)."""
        return []

    def api_start(self, *, kind: str, data: Mapping[str, Any], user: Any, system: bool) -> Process:
        """Start the type `kind` (one of `api_start_types`, which the core checked) with `data`,
        validated against the version the new process pins; runs inside the caller's
        transaction. Raises ApiStartInvalid with messages by field, or PermissionDenied."""
        raise NotImplementedError(f"{type(self).__name__} cannot be started through the API")

    # ------------------------------------------------------------------ demo

    def demo_load(self, users: Mapping[str, Any], write: Callable[[str], Any]) -> None:
        """Load this process type's demo processes (`manage.py demo_data`), idempotently.
        `users` are the demo people by username; `write` reports a line."""

    # ------------------------------------------------------------------ identity

    @property
    def flow_ref(self) -> str:
        """The flow's stored reference (`app_label/flows.FlowClass`)."""
        return get_flow_ref(self.flow)

    @property
    def title(self) -> str:
        return str(self.flow.process_title)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} for {self.flow.__name__}>"


D = TypeVar("D", bound=type[ProcessDescriptor])


class ProcessRegistry:
    """The registered descriptors, one per flow, in registration order."""

    def __init__(self) -> None:
        self._by_flow: dict[type, ProcessDescriptor] = {}

    def register(self, descriptor_class: D) -> D:
        """Register `descriptor_class` (usable as a class decorator)."""
        flow = getattr(descriptor_class, "flow", None)
        if flow is None:
            raise ImproperlyConfigured(f"{descriptor_class.__name__} sets no `flow`")
        if flow in self._by_flow:
            raise AlreadyRegistered(
                f"{flow.__module__}.{flow.__name__} is already registered by "
                f"{type(self._by_flow[flow]).__name__}"
            )
        self._by_flow[flow] = descriptor_class()
        return descriptor_class

    def __iter__(self) -> Iterator[ProcessDescriptor]:
        return iter(list(self._by_flow.values()))

    def flows(self) -> list[type[Flow]]:
        return list(self._by_flow)

    def for_flow(self, flow: Any) -> ProcessDescriptor:
        """The descriptor of `flow` (a Flow class or instance)."""
        flow_class = flow if isinstance(flow, type) else type(flow)
        try:
            return self._by_flow[flow_class]
        except KeyError:
            raise NotRegistered(
                f"No process descriptor registers {flow_class.__module__}.{flow_class.__name__}: "
                f"add a `{DESCRIPTOR_MODULE}` module to its app"
            ) from None

    def for_process(self, process: Process) -> ProcessDescriptor:
        return self.for_flow(process.flow_class)

    def for_task(self, task: Task) -> ProcessDescriptor:
        return self.for_flow(task.flow_task.flow_class)

    def roles(self) -> dict[str, list[str]]:
        """Every descriptor's roles merged: group name -> permissions."""
        merged: dict[str, list[str]] = {}
        for descriptor in self:
            for group, permissions in descriptor.roles.items():
                merged.setdefault(group, [])
                merged[group] += [p for p in permissions if p not in merged[group]]
        return merged

    def history_labels(self) -> dict[str, str]:
        labels: dict[str, str] = {}
        for descriptor in self:
            labels.update(descriptor.history_labels)
        return labels

    def for_history_action(self, action: str) -> ProcessDescriptor | None:
        return next((d for d in self if action in d.history_labels), None)


registry = ProcessRegistry()


def register(descriptor_class: D) -> D:
    """Register a process descriptor with the portal's registry (a class decorator)."""
    return registry.register(descriptor_class)


def autodiscover() -> None:
    """Import every installed app's `descriptor` module, so each registers its process."""
    autodiscover_modules(DESCRIPTOR_MODULE)
