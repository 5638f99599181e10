"""Thin task views: validate the form, call the service."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from django.views import generic
from viewflow.workflow.flow.views import CreateProcessView

from processes.purchase import selectors as purchase_selectors
from processes.purchase import services
from processes.purchase.forms import DecisionForm, PurchaseRequestForm, ReviseForm
from processes.views import TaskDecisionView, TaskFormView


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
            activation=self.activation,
            user=self.request.user,
            approved=form.is_yes(),
            comment=form.cleaned_data["comment"],
        )


class PurchaseReviseView(TaskFormView):
    """The requester edits a rejected request and resubmits it, or withdraws it."""

    form_class = ReviseForm

    def get_form_kwargs(self):
        # A copy: the form must not touch the process; the service applies the changes.
        process = type(self.activation.process).objects.get(pk=self.activation.process.pk)
        return {**super().get_form_kwargs(), "instance": process}

    def form_valid(self, form):
        services.purchase_revise(
            activation=self.activation,
            user=self.request.user,
            withdraw=form.is_withdrawal(),
            comment=form.cleaned_data["comment"],
            data=form.revised_data(),
            uploads=form.cleaned_data["attachments"],
        )
        return super().form_valid(form)


class MyRequestsView(generic.ListView):
    """The requester's own purchase requests: where each one is, and who holds it now."""

    template_name = "purchase/my_requests.html"
    context_object_name = "requests"
    paginate_by = 50

    def get_queryset(self):
        return purchase_selectors.purchase_requests_of(self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        from processes.purchase.flows import PurchaseFlow  # the flow imports these views

        flow = PurchaseFlow.instance
        context["rows"] = [
            {**row, "url": flow.reverse("process_detail", args=[row["process"].pk])}
            for row in purchase_selectors.purchase_request_rows(context["requests"])
        ]
        return context
