"""Write-side use cases of the purchase request process."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from processes.audit import acting_as, audit_record
from processes.notifications import notify_request_decided
from processes.purchase.models import PurchaseOrder, PurchaseProcess
from processes.services import ActingRequest, decision_record


@transaction.atomic
def purchase_request_submit(*, activation: Any, requester: Any, data: dict[str, Any]) -> PurchaseProcess:
    """Start a purchase request from validated form data, and send it to the approvers' queue."""
    process: PurchaseProcess = activation.process
    for field in ("title", "amount", "currency", "justification"):
        setattr(process, field, data[field])
    process.requester = requester
    process.full_clean(exclude=["flow_class", "status", "created", "finished", "data", "parent_task"])
    activation.execute()
    return process


@transaction.atomic
def purchase_decide(*, activation: Any, user: Any, approved: bool, comment: str) -> PurchaseProcess:
    """Record an approver's decision (a rejection always carries its reason) and move the flow on."""
    process: PurchaseProcess = activation.process
    comment = comment.strip()
    if not approved and not comment:
        raise ValueError("A rejection needs a comment")
    process.approved = approved
    process.save(update_fields=["approved"])
    notify_request_decided(process=process, approved=approved, actor=user, comment=comment)
    decision_record(
        activation=activation,
        user=user,
        action="purchase.approved" if approved else "purchase.rejected",
        comment=comment,
    )
    return process


def purchase_order_create(*, process: PurchaseProcess, idempotency_key: str) -> PurchaseOrder:
    """Create the purchase order for an approved request, once per idempotency key.

    Runs in a worker and may run again for the same key (a redelivered message); the second
    run returns the order the first one created.
    """
    with transaction.atomic():
        order, created = PurchaseOrder.objects.get_or_create(
            idempotency_key=idempotency_key,
            defaults={"process": process, "number": f"PO-{process.pk:06d}"},
        )
        if created:
            audit_record(action="purchase.order_created", process=process, details={"number": order.number})
    return order


def purchase_request_start(*, requester: Any, data: dict[str, Any]) -> PurchaseProcess:
    """Start a purchase request without the web form (demo data, tests, later the API)."""
    from processes.purchase.flows import PurchaseFlow

    node = PurchaseFlow.start
    if not node.can_execute(requester, None):
        raise PermissionDenied(f"{requester} may not start purchase requests")
    with acting_as(requester):
        activation = node.activation_class.create(node, None, None)
        activation.start(ActingRequest(requester))
        return purchase_request_submit(activation=activation, requester=requester, data=data)


def purchase_task_decide(*, task: Any, user: Any, approved: bool, comment: str = "") -> PurchaseProcess:
    """Decide an approval task held by `user` without the web form (demo data, tests, later email links)."""
    with acting_as(user), task.activation() as activation:
        if not activation.flow_task.can_execute(user, activation.task):
            raise PermissionDenied(f"{user} does not hold task {task.pk}")
        activation.start(ActingRequest(user))
        return purchase_decide(activation=activation, user=user, approved=approved, comment=comment)
