"""What the core needs to know about catalog requests (processes/registry.py): one descriptor for
every process type defined in the admin, which reads the type of each request from its row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from django.utils.translation import gettext, gettext_noop

from processes.catalog import api, demo, selectors, services
from processes.catalog.bpmn import request_diagram_svg
from processes.catalog.flows import CatalogFlow
from processes.catalog.models import CatalogRequest
from processes.catalog.viewsets import CatalogAppViewset
from processes.registry import (
    ApiStartType,
    KindFilter,
    MenuEntry,
    ProcessDescriptor,
    TaskColumns,
    register,
)


def _person(user: Any) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else ""


@register
class CatalogDescriptor(ProcessDescriptor):
    flow = CatalogFlow
    icon = "dynamic_form"
    viewset_class = CatalogAppViewset
    # Managers of every catalog type; starting is per type (its starter groups) and deciding per
    # stage (its candidate group), so no other role is needed.
    roles = {"managers": ["catalog.view_catalogrequest", "catalog.manage_catalogrequest"]}
    history_labels = {
        "catalog.version_pinned": gettext_noop("Version pinned"),
        "catalog.stage_entered": gettext_noop("Stage reached"),
        "catalog.approved": gettext_noop("Approved"),
        "catalog.rejected": gettext_noop("Rejected"),
        "catalog.finished": gettext_noop("Finished"),
    }
    decision_nodes = ("approve",)
    decision_actions = ("catalog.approved", "catalog.rejected")
    policy_field = "version"

    def starter_id(self, process: Any) -> int | None:
        """The requester: from the request's own row when the gate holds it (a task read under
        the flow lock comes with it), else read."""
        if isinstance(process, CatalogRequest):
            return process.requester_id
        return selectors.requester_id(process.pk)

    def menu_entries(self, user: Any) -> list[MenuEntry]:
        return [
            MenuEntry(
                title=process_type.name,
                icon=process_type.icon,
                url=CatalogFlow.instance.reverse("type", args=[process_type.slug]),
            )
            for process_type in selectors.types_startable_list(user)
        ]

    def start_entries(self, user: Any) -> list[MenuEntry]:
        return [
            MenuEntry(
                title=gettext("New %(name)s") % {"name": process_type.name},
                icon=process_type.icon,
                url=CatalogFlow.instance.reverse("type_start", args=[process_type.slug]),
            )
            for process_type in selectors.types_startable_list(user)
        ]

    def type_title(self, process: Any) -> str:
        return str(process.process_type.name)

    def diagram_svg(self, process: Any) -> str:
        return request_diagram_svg(process)

    def summary(self, process: Any) -> str:
        return str(process.subject)

    def stage(self, task: Any, process: Any) -> Any:
        return process.current_stage if task.flow_task.name == "approve" else None

    def columns(self, task: Any, process: Any, stage: Any = None) -> TaskColumns:
        return replace(
            super().columns(task, process, stage),  # the stage's name and due time
            subject=process.subject,
            requester=_person(process.requester),
            amount=process.amount,
            currency=process.currency,
            priority=process.priority,
            kind=process.process_type.name,
            keywords=selectors.request_keywords(process),
        )

    def kinds(self) -> list[str]:
        return selectors.type_names()

    def kind_filters(self, kind: str) -> list[KindFilter]:
        return selectors.type_filters(kind)

    def kind_filter_processes(self, kind: str, values: Mapping[str, str]) -> Any:
        return selectors.requests_matching(kind, values)

    def stage_names(self) -> set[str]:
        return set()  # the stages of every published type's chain are added by the core

    def history_detail(self, action: str, details: Mapping[str, Any]) -> str:
        if action == "catalog.version_pinned":
            return f"{details.get('name')} v{details.get('version')}"
        if action == "catalog.stage_entered":
            return gettext("%(n)s. %(name)s (group %(group)s)") % {
                "n": details.get("stage"),
                "name": details.get("name"),
                "group": details.get("group"),
            }
        if action in ("catalog.approved", "catalog.rejected") and details.get("stage_name"):
            return gettext("stage %(n)s. %(name)s") % {"n": details["stage"], "name": details["stage_name"]}
        if action == "catalog.finished":
            return gettext("approved") if details.get("approved") else gettext("rejected")
        return ""

    def demo_load(self, users: Any, write: Any) -> None:
        demo.demo_load(users, write)

    def api_start_types(self, *, user: Any, system: bool) -> list[ApiStartType]:
        return api.start_types(user)  # per type, as its starter groups say (the service account's)

    def api_start(self, *, kind: str, data: Mapping[str, Any], user: Any, system: bool) -> Any:
        return api.start(slug=kind, data=data, user=user)

    def decide(self, *, task: Any, user: Any, approved: bool, comment: str) -> None:
        services.catalog_task_decide(task=task, user=user, approved=approved, comment=comment)

    def decide_automatically(self, *, activation: Any, approved: bool, comment: str) -> None:
        services.catalog_decide(activation=activation, user=None, approved=approved, comment=comment)
