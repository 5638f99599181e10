"""Thin task views: validate the form, call the service."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from django.utils.translation import gettext_lazy as _
from django.views import generic
from viewflow.views import FormLayoutMixin
from viewflow.workflow.flow.views import CreateProcessView
from viewflow.workflow.flow.views import mixins as flow_view_mixins

from processes.purchase import services
from processes.purchase.forms import DecisionForm, PurchaseRequestForm


class PurchaseRequestStartView(CreateProcessView):
    form_class = PurchaseRequestForm

    def form_valid(self, form):
        services.purchase_request_submit(
            activation=self.request.activation, requester=self.request.user, data=form.cleaned_data
        )
        self.object = self.request.activation.process
        return HttpResponseRedirect(self.get_success_url())


class PurchaseDecisionView(
    FormLayoutMixin,
    flow_view_mixins.SuccessMessageMixin,
    flow_view_mixins.TaskSuccessUrlMixin,
    flow_view_mixins.TaskViewTemplateNames,
    generic.FormView,
):
    form_class = DecisionForm
    template_filename = "task.html"
    success_message = _("Task {task} has been completed.")

    def form_valid(self, form):
        services.purchase_decide(
            activation=self.request.activation,
            user=self.request.user,
            approved=form.approved,
            comment=form.cleaned_data["comment"],
        )
        return super().form_valid(form)
