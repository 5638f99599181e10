from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from processes.purchase.models import PurchaseProcess


class PurchaseRequestForm(forms.ModelForm):
    """What a requester fills in to start a purchase request."""

    class Meta:
        model = PurchaseProcess
        fields = ["title", "amount", "currency", "justification"]
        widgets = {"justification": forms.Textarea(attrs={"rows": 4})}


class DecisionForm(forms.Form):
    """An approver's decision: approve, or reject with a reason."""

    APPROVE = "approve"
    REJECT = "reject"

    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[(APPROVE, _("Approve")), (REJECT, _("Reject"))],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=4000
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("decision") == self.REJECT and not (cleaned.get("comment") or "").strip():
            self.add_error("comment", _("Say why the request is rejected."))
        return cleaned

    @property
    def approved(self) -> bool:
        return self.cleaned_data["decision"] == self.APPROVE
