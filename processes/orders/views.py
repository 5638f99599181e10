"""Thin task views of the order process: validate the form, call the service."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from viewflow.workflow.flow.views import CreateProcessView

from processes.orders import services
from processes.orders.forms import ChaseCarrierForm, FraudReviewForm, OrderForm
from processes.views import TaskDecisionView


class OrderStartView(CreateProcessView):
    form_class = OrderForm

    def form_valid(self, form):
        services.order_submit(activation=self.request.activation, data=form.cleaned_data)
        self.object = self.request.activation.process
        return HttpResponseRedirect(self.get_success_url())


class FraudReviewView(TaskDecisionView):
    form_class = FraudReviewForm

    def decide(self, form) -> None:
        services.order_fraud_decide(
            activation=self.activation,
            user=self.request.user,
            cleared=form.is_yes(),
            comment=form.cleaned_data["comment"],
        )


class ChaseCarrierView(TaskDecisionView):
    form_class = ChaseCarrierForm

    def decide(self, form) -> None:
        services.order_delivery_chased(
            activation=self.activation,
            user=self.request.user,
            delivered=form.is_yes(),
            comment=form.cleaned_data["comment"],
        )
