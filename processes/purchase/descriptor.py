"""What the core needs to know about purchase requests (processes/registry.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from processes.purchase import demo, services
from processes.purchase.flows import PurchaseFlow
from processes.purchase.forms import PurchaseRequestForm
from processes.purchase.models import DEFAULT_STAGE, Currency, PurchaseProcess
from processes.purchase.viewsets import PurchaseAppViewset
from processes.registry import (
    ApiStartInvalid,
    ApiStartType,
    ProcessDescriptor,
    TaskColumns,
    register,
    validation_errors,
)
from processes.tasklist.models import Priority


def _person(user: Any) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else ""


@register
class PurchaseDescriptor(ProcessDescriptor):
    flow = PurchaseFlow
    icon = "shopping_cart"
    roles = {
        "requesters": ["purchase.view_purchaseprocess", "purchase.start_purchase"],
        "approvers": ["purchase.view_purchaseprocess", "purchase.approve_purchase"],
        "finance": ["purchase.view_purchaseprocess"],
        "managers": ["purchase.view_purchaseprocess", "purchase.manage_purchaseprocess"],
    }
    history_labels = {
        "purchase.policy_pinned": gettext_noop("Policy pinned"),
        "purchase.stage_entered": gettext_noop("Stage reached"),
        "purchase.approved": gettext_noop("Approved"),
        "purchase.rejected": gettext_noop("Rejected"),
        "purchase.revised": gettext_noop("Revised and resubmitted"),
        "purchase.withdrawn": gettext_noop("Withdrawn"),
        "purchase.order_created": gettext_noop("Purchase order created"),
    }
    viewset_class = PurchaseAppViewset
    decision_nodes = ("approve",)
    decision_actions = ("purchase.approved", "purchase.rejected")
    policy_field = "policy_version"

    def starter_id(self, process: Any) -> int | None:
        """The requester (every start names her: the form's, the API's and the demo's), from the
        request's own row when the caller holds it (the job's End on the worker does), else the
        start task's owner, as for any process."""
        if isinstance(process, PurchaseProcess) and process.requester_id is not None:
            return process.requester_id
        return super().starter_id(process)

    def summary(self, process: Any) -> str:
        return f"{process.title} ({process.amount} {process.currency})"

    def stage(self, task: Any, process: Any) -> Any:
        return process.current_stage if task.flow_task.name == "approve" else None

    def columns(self, task: Any, process: Any, stage: Any = None) -> TaskColumns:
        return replace(
            super().columns(task, process, stage),  # the stage's name and due time
            subject=process.title,
            requester=_person(process.requester),
            amount=process.amount,
            currency=process.currency,
            priority=process.priority,
        )

    def stage_names(self) -> set[str]:
        return {DEFAULT_STAGE.name, *super().stage_names()}

    def history_detail(self, action: str, details: Mapping[str, Any]) -> str:
        if action == "purchase.policy_pinned":
            return f"{details.get('policy')} v{details.get('version')}"
        if action == "purchase.stage_entered":
            return _("%(n)s. %(name)s (group %(group)s)") % {
                "n": details.get("stage"),
                "name": details.get("name"),
                "group": details.get("group"),
            }
        if action in ("purchase.approved", "purchase.rejected") and details.get("stage_name"):
            return _("stage %(n)s. %(name)s") % {"n": details["stage"], "name": details["stage_name"]}
        if action == "purchase.revised":
            changes = ", ".join(
                f"{field} {c['from']} → {c['to']}" for field, c in (details.get("changes") or {}).items()
            )
            text = _("revision %(n)s") % {"n": details.get("revision")}
            return f"{text}: {changes}" if changes else text
        if action == "purchase.order_created":
            return str(details.get("number", ""))
        return ""

    def demo_load(self, users: Any, write: Any) -> None:
        demo.demo_load(users, write)

    def api_start_types(self, *, user: Any, system: bool) -> list[ApiStartType]:
        # A request has a requester: a client starts one as the service account it acts as.
        if user is None or not PurchaseFlow.start.can_execute(user, None):
            return []
        return [ApiStartType(kind="", title=self.title, schema=PURCHASE_SCHEMA)]

    def api_start(self, *, kind: str, data: Mapping[str, Any], user: Any, system: bool) -> Any:
        unknown = sorted(set(data) - set(PURCHASE_SCHEMA["properties"]))
        if unknown:
            raise ApiStartInvalid({name: ["Unknown field."] for name in unknown})
        form = PurchaseRequestForm(data={key: _form_value(value) for key, value in data.items()})
        if not form.is_valid():
            raise ApiStartInvalid(
                {field: [str(m) for m in messages] for field, messages in form.errors.items()}
            )
        try:
            return services.purchase_request_start(requester=user, data=form.cleaned_data)
        except ValidationError as exc:
            raise ApiStartInvalid(validation_errors(exc)) from None

    def decide(self, *, task: Any, user: Any, approved: bool, comment: str) -> None:
        services.purchase_task_decide(task=task, user=user, approved=approved, comment=comment)

    def decide_automatically(self, *, activation: Any, approved: bool, comment: str) -> None:
        services.purchase_decide(activation=activation, user=None, approved=approved, comment=comment)


def _form_value(value: Any) -> Any:
    return "" if value is None else str(value)


PURCHASE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 200},
        "amount": {"type": ["string", "number"], "description": "Greater than 0, two decimal places"},
        "currency": {"type": "string", "enum": list(Currency.values)},
        "priority": {"type": "integer", "enum": list(Priority.values)},
        "justification": {"type": "string"},
    },
    "required": ["title", "amount", "currency", "justification"],
    "additionalProperties": False,
}
