from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from processes.forms import TaskDecisionForm
from processes.purchase.models import PurchaseProcess


class PurchaseRequestForm(forms.ModelForm):
    """What a requester fills in to start a purchase request."""

    class Meta:
        model = PurchaseProcess
        fields = ["title", "amount", "currency", "justification"]
        widgets = {"justification": forms.Textarea(attrs={"rows": 4})}


class DecisionForm(TaskDecisionForm):
    """An approver's decision: approve, or reject with a reason."""

    choices = [("approve", _("Approve")), ("reject", _("Reject"))]
    reason_required = _("Say why the request is rejected.")
