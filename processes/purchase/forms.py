from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from processes.attachments.forms import AttachmentsField
from processes.forms import TaskDecisionForm
from processes.policies.selectors import policy_version_published
from processes.purchase.models import PURCHASE_POLICY, PurchaseProcess
from processes.purchase.services import purchase_currency_problem


class PurchaseRequestForm(forms.ModelForm):
    """What a requester fills in to start a purchase request."""

    attachments = AttachmentsField()

    class Meta:
        model = PurchaseProcess
        fields = ["title", "amount", "currency", "priority", "justification"]
        widgets = {"justification": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["priority"].required = False  # normal unless the requester says otherwise

    def clean_currency(self):
        currency = self.cleaned_data["currency"]
        version = policy_version_published(policy_name=PURCHASE_POLICY)
        problem = purchase_currency_problem(currency=currency, version=version)
        if problem:
            raise forms.ValidationError(problem)
        # The version the currency was checked against is the one the request pins (submit).
        self.cleaned_data["policy_version"] = version
        return currency


class DecisionForm(TaskDecisionForm):
    """An approver's decision: approve, or reject with a reason."""

    choices = [("approve", _("Approve")), ("reject", _("Reject"))]
    reason_required = _("Say why the request is rejected.")


class ReviseForm(forms.ModelForm):
    """The requester's answer to a rejection: resubmit the revised request, or withdraw it."""

    decision = forms.ChoiceField(
        label=_("Decision"),
        widget=forms.RadioSelect,
        choices=[("resubmit", _("Resubmit the revised request")), ("withdraw", _("Withdraw the request"))],
    )
    comment = forms.CharField(
        label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=4000
    )
    attachments = AttachmentsField(label=_("More attachments"))

    class Meta:
        model = PurchaseProcess
        fields = ["title", "amount", "currency", "justification"]
        widgets = {"justification": forms.Textarea(attrs={"rows": 4})}

    def clean_currency(self):
        currency = self.cleaned_data["currency"]
        problem = purchase_currency_problem(currency=currency, version=self.instance.policy_version)
        if problem and self.data.get("decision") != "withdraw":
            raise forms.ValidationError(problem)
        return currency

    def is_withdrawal(self) -> bool:
        return self.cleaned_data["decision"] == "withdraw"

    def revised_data(self) -> dict:
        return {field: self.cleaned_data[field] for field in self.Meta.fields}
