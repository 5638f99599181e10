"""Thin task views of the order process: validate the form, call the service."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from django.utils.translation import gettext_lazy as _
from django.views import generic
from viewflow.views import FormLayoutMixin
from viewflow.workflow.flow.views import CreateProcessView
from viewflow.workflow.flow.views import mixins as flow_view_mixins

from processes.orders import services
from processes.orders.forms import FraudReviewForm, OrderForm


class OrderStartView(CreateProcessView):
    form_class = OrderForm

    def form_valid(self, form):
        services.order_submit(activation=self.request.activation, data=form.cleaned_data)
        self.object = self.request.activation.process
        return HttpResponseRedirect(self.get_success_url())


class FraudReviewView(
    FormLayoutMixin,
    flow_view_mixins.SuccessMessageMixin,
    flow_view_mixins.TaskSuccessUrlMixin,
    flow_view_mixins.TaskViewTemplateNames,
    generic.FormView,
):
    form_class = FraudReviewForm
    template_filename = "task.html"
    success_message = _("Task {task} has been completed.")

    def form_valid(self, form):
        services.order_fraud_decide(
            activation=self.request.activation,
            user=self.request.user,
            cleared=form.cleaned_data["decision"] == FraudReviewForm.RELEASE,
            comment=form.cleaned_data["comment"],
        )
        return super().form_valid(form)
