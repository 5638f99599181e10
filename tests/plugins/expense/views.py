"""Thin task views: validate the form, call the service."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from viewflow.workflow.flow.views import CreateProcessView

from processes.views import TaskDecisionView
from tests.plugins.expense import services
from tests.plugins.expense.forms import ExpenseClaimForm, ExpenseDecisionForm


class ExpenseClaimStartView(CreateProcessView):
    form_class = ExpenseClaimForm

    def form_valid(self, form):
        services.expense_claim_submit(
            activation=self.request.activation, claimant=self.request.user, data=form.cleaned_data
        )
        self.object = self.request.activation.process
        return HttpResponseRedirect(self.get_success_url())


class ExpenseDecisionView(TaskDecisionView):
    form_class = ExpenseDecisionForm

    def decide(self, form) -> None:
        services.expense_decide(
            activation=self.request.activation,
            user=self.request.user,
            approved=form.is_yes(),
            comment=form.cleaned_data["comment"],
        )
