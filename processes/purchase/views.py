"""Thin task views: validate the form, call the service."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from viewflow.workflow.flow.views import CreateProcessView

from processes.purchase import services
from processes.purchase.forms import DecisionForm, PurchaseRequestForm
from processes.views import TaskDecisionView


class PurchaseRequestStartView(CreateProcessView):
    form_class = PurchaseRequestForm

    def form_valid(self, form):
        services.purchase_request_submit(
            activation=self.request.activation, requester=self.request.user, data=form.cleaned_data
        )
        self.object = self.request.activation.process
        return HttpResponseRedirect(self.get_success_url())


class PurchaseDecisionView(TaskDecisionView):
    form_class = DecisionForm

    def decide(self, form) -> None:
        services.purchase_decide(
            activation=self.request.activation,
            user=self.request.user,
            approved=form.is_yes(),
            comment=form.cleaned_data["comment"],
        )
