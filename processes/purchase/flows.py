from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from viewflow import this
from viewflow.workflow import act, flow, lock

from processes.nodes import CeleryJob, JobCall
from processes.purchase import services, views
from processes.purchase.models import PurchaseProcess


class PurchaseFlow(flow.Flow):
    """Purchase request

    A requester asks to buy something, a member of the approvers group decides, and an approved
    request becomes a purchase order, created by an automated step in the worker.
    """

    process_class = PurchaseProcess
    lock_impl = lock.select_for_update_lock
    process_summary_template = "{{ process.title }} ({{ process.amount }} {{ process.currency }})"

    start = (
        flow.Start(views.PurchaseRequestStartView.as_view())
        .Annotation(title=_("New purchase request"))
        .Permission("processes.start_purchase")
        .Next(this.approve)
    )
    approve = (
        flow.View(views.PurchaseDecisionView.as_view())
        .Annotation(
            title=_("Approve purchase request"),
            summary_template="{{ process.title }}: {{ process.amount }} {{ process.currency }}",
        )
        .Permission("processes.approve_purchase")
        .Next(this.check_approved)
    )
    check_approved = flow.If(act.process.approved).Then(this.create_order).Else(this.rejected)
    create_order = (
        CeleryJob(this.purchase_order_create).Annotation(title=_("Create purchase order")).Next(this.approved)
    )
    approved = flow.End().Annotation(title=_("Approved"))
    rejected = flow.End().Annotation(title=_("Rejected"))

    def purchase_order_create(self, job: JobCall) -> None:
        services.purchase_order_create(process=job.process, idempotency_key=job.idempotency_key)
