"""The approvals benchmark's baseline: plain viewflow with the same steps as the purchase flow
(start, an approval, a finance approval above 1,000, end), no audit, no notifications, no policy."""

from __future__ import annotations

from viewflow import this
from viewflow.workflow import flow, lock
from viewflow.workflow.flow.views import UpdateProcessView


class BaselineApprovalFlow(flow.Flow):
    """Minimal approval chain, driven through its activations by bench/approvals.py."""

    lock_impl = lock.select_for_update_lock

    start = flow.StartHandle(this.start_process).Next(this.approve)
    approve = flow.View(UpdateProcessView.as_view(fields=[])).Next(this.needs_finance)
    needs_finance = (
        flow.If(lambda activation: activation.process.data["amount"] > 1000).Then(this.finance).Else(this.end)
    )
    finance = flow.View(UpdateProcessView.as_view(fields=[])).Next(this.end)
    end = flow.End()

    def start_process(self, activation, amount):
        activation.process.data = {"amount": amount}
        return activation.process
