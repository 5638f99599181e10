"""Write-side use cases of the purchase request process."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from processes.attachments.services import attachments_add
from processes.audit import audit_record
from processes.bulk import row_insert_once
from processes.notifications.services import notify_request_decided
from processes.policies.chain import chain_decision_is_final, chain_stage_after_decision, chain_stage_next
from processes.policies.selectors import policy_version_published
from processes.purchase.models import PURCHASE_POLICY, PurchaseOrder, PurchaseProcess
from processes.services import decision_record, process_starting, task_executing


@transaction.atomic
def purchase_request_submit(*, activation: Any, requester: Any, data: dict[str, Any]) -> PurchaseProcess:
    """Start a purchase request from validated form data, and send it to the approvers' queue.

    `data["attachments"]` (optional) holds checked uploads (processes.attachments.checks); they
    are stored once the process exists, in this transaction."""
    process: PurchaseProcess = activation.process
    for field in ("title", "amount", "currency", "justification"):
        setattr(process, field, data[field])
    process.requester = requester
    process.priority = data.get("priority") or process.priority
    # Pin the chain: publishing a newer version later never changes this request. The form
    # that checked the currency read the published version already (`policy_version`).
    if "policy_version" in data:
        process.policy_version = data["policy_version"]
    else:
        process.policy_version = policy_version_published(policy_name=PURCHASE_POLICY)
    purchase_currency_check(process=process)
    # Validates the fields, not the references or the random correlation id: the requester and
    # the version are objects in hand, and the database holds the foreign keys and the uniqueness
    # (three queries fewer per request).
    process.full_clean(
        exclude=[
            "flow_class",
            "status",
            "created",
            "finished",
            "data",
            "parent_task",
            "requester",
            "policy_version",
        ],
        validate_unique=False,
    )
    activation.execute()
    if process.policy_version is not None:
        audit_record(
            action="purchase.policy_pinned",
            process=process,
            actor=requester,
            details={"policy": process.policy_version.policy.name, "version": process.policy_version.number},
        )
    attachments_add(process=process, uploads=data.get("attachments") or [], user=requester)
    return process


def purchase_currency_problem(*, currency: str, version: Any) -> str | None:
    """Why a request in `currency` cannot go through `version`'s chain (None: it can). The stages'
    amount conditions are in the version's currency, and amounts are never compared across
    currencies."""
    if version is None or currency == version.currency:
        return None
    return _("The approval policy decides amounts in %(policy)s: enter the amount in %(policy)s.") % {
        "policy": version.currency
    }


def purchase_currency_check(*, process: PurchaseProcess) -> None:
    problem = purchase_currency_problem(currency=process.currency, version=process.policy_version)
    if problem:
        raise ValidationError({"currency": problem})


def purchase_stage_next(*, process: PurchaseProcess) -> PurchaseProcess:
    """Move the request to the next stage of its pinned chain that applies to its amount, or past
    the last one (the flow's `route` step, after the start or a revision); a revision resets the
    stage, so the chain restarts."""
    return chain_stage_next(process=process, action="purchase.stage_entered")


def purchase_stage_after_decision(*, process: PurchaseProcess) -> PurchaseProcess:
    """After a decision (the flow's `check_approved` step): an approval moves the request to its
    next stage or past the last one; a rejection leaves it where it is, for the requester."""
    return chain_stage_after_decision(process=process, action="purchase.stage_entered")


# No savepoint of its own: every caller holds the task's flow lock, whose block is one (a savepoint,
# or the transaction), and nothing between the lock and this catches its errors.
@transaction.atomic(savepoint=False)
def purchase_decide(*, activation: Any, user: Any, approved: bool, comment: str) -> PurchaseProcess:
    """Record an approver's decision (a rejection always carries its reason) and move the flow on."""
    process: PurchaseProcess = activation.process
    comment = comment.strip()
    if not approved and not comment:
        raise ValueError("A rejection needs a comment")
    process.approved = approved
    process.save(update_fields=["approved"])
    stage = process.current_stage
    if chain_decision_is_final(process=process, approved=approved):  # the requester hears of it
        notify_request_decided(process=process, approved=approved, actor=user, comment=comment)
    decision_record(
        activation=activation,
        user=user,
        action="purchase.approved" if approved else "purchase.rejected",
        comment=comment,
        details={"stage": stage.order, "stage_name": stage.name} if stage is not None else None,
    )
    return process


@transaction.atomic
def purchase_revise(
    *,
    activation: Any,
    user: Any,
    withdraw: bool,
    comment: str = "",
    data: dict[str, Any] | None = None,
    uploads: list[Any] | None = None,
) -> PurchaseProcess:
    """The requester's answer to a rejection: resubmit the revised request (the chain of the SAME
    pinned version restarts from its first stage) or withdraw it (the process ends withdrawn).
    A resubmission may bring more attachments (`uploads`: checked uploads); a withdrawal keeps none."""
    process: PurchaseProcess = activation.process
    comment = comment.strip()
    if withdraw:
        process.withdrawn = True
        process.save(update_fields=["withdrawn"])
        decision_record(activation=activation, user=user, action="purchase.withdrawn", comment=comment)
        return process
    changes = {}
    for field in ("title", "amount", "currency", "justification"):
        if data and field in data and data[field] != getattr(process, field):
            changes[field] = {"from": str(getattr(process, field)), "to": str(data[field])}
            setattr(process, field, data[field])
    process.full_clean(exclude=["flow_class", "status", "created", "finished", "data", "parent_task"])
    purchase_currency_check(process=process)
    process.revision += 1
    process.stage_order = None
    process.approved = None
    process.save(
        update_fields=["title", "amount", "currency", "justification", "revision", "stage_order", "approved"]
    )
    attachments_add(process=process, uploads=uploads or [], user=user, task=activation.task)
    decision_record(
        activation=activation,
        user=user,
        action="purchase.revised",
        comment=comment,
        details={"revision": process.revision, "changes": changes},
    )
    return process


def purchase_order_create(*, process: PurchaseProcess, idempotency_key: str) -> PurchaseOrder:
    """Create the purchase order for an approved request, once per idempotency key.

    Runs in a worker and may run again for the same key (a redelivered message); the second
    run returns the order the first one created. Two deliveries at once are kept apart by the
    key's unique constraint: the one that loses waits for the winner's commit, then reads its
    order. The order goes in with no read before it and no savepoint
    (`processes.bulk.row_insert_once`); another order of the same process (a different key) is an
    IntegrityError.
    """
    order = PurchaseOrder(idempotency_key=idempotency_key, process=process, number=f"PO-{process.pk:06d}")
    with transaction.atomic():
        if row_insert_once(order, unique="idempotency_key"):
            audit_record(action="purchase.order_created", process=process, details={"number": order.number})
            return order
    return PurchaseOrder.objects.get(idempotency_key=idempotency_key)


def purchase_request_start(*, requester: Any, data: dict[str, Any]) -> PurchaseProcess:
    """Start a purchase request without the web form (demo data, tests, later the API)."""
    from processes.purchase.flows import PurchaseFlow

    with process_starting(node=PurchaseFlow.start, user=requester) as activation:
        return purchase_request_submit(activation=activation, requester=requester, data=data)


def purchase_task_decide(*, task: Any, user: Any, approved: bool, comment: str = "") -> PurchaseProcess:
    """Decide an approval task held by `user` without the web form (demo data, tests, later email links)."""
    with task_executing(task=task, user=user) as activation:
        return purchase_decide(activation=activation, user=user, approved=approved, comment=comment)


def purchase_task_revise(
    *, task: Any, user: Any, withdraw: bool, comment: str = "", data: dict[str, Any] | None = None
) -> PurchaseProcess:
    """Answer a rejection held by `user` without the web form (demo data, tests)."""
    with task_executing(task=task, user=user) as activation:
        return purchase_revise(
            activation=activation, user=user, withdraw=withdraw, comment=comment, data=data
        )
