"""The approvals benchmark's baselines: plain viewflow with the same steps as the purchase flow
(start, an approval, a finance approval above 1,000, end), no audit, no notifications, no policy.
Its people's steps need permissions, as the portal's do, so the baseline through HTTP runs with
ordinary users holding them (viewflow's `Process` model's own: add to start, change to decide).

`start` is driven in-process through its activations; `start_form` is the same chain started
from viewflow's own start view, for the baseline through HTTP (bench/settings_http_baseline.py).
"""

from __future__ import annotations

from viewflow import this
from viewflow.workflow import flow, lock
from viewflow.workflow.flow.views import CreateProcessView, UpdateProcessView


class BaselineStartView(CreateProcessView):
    """viewflow's start view; the amount is the one value the chain needs."""

    fields: list[str] = []

    def form_valid(self, form):
        self.request.activation.process.data = {"amount": int(self.request.POST.get("amount", "0"))}
        return super().form_valid(form)


class BaselineApprovalFlow(flow.Flow):
    """Minimal approval chain, driven by bench/approvals.py."""

    lock_impl = lock.select_for_update_lock

    start = flow.StartHandle(this.start_process).Next(this.approve)
    start_form = flow.Start(BaselineStartView.as_view()).Permission("viewflow.add_process").Next(this.approve)
    approve = (
        flow.View(UpdateProcessView.as_view(fields=[]))
        .Permission("viewflow.change_process")
        .Next(this.needs_finance)
    )
    needs_finance = (
        flow.If(lambda activation: activation.process.data["amount"] > 1000).Then(this.finance).Else(this.end)
    )
    finance = (
        flow.View(UpdateProcessView.as_view(fields=[])).Permission("viewflow.change_process").Next(this.end)
    )
    end = flow.End()

    def start_process(self, activation, amount):
        activation.process.data = {"amount": amount}
        return activation.process
