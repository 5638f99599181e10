from __future__ import annotations

from django import forms

from processes.forms import TaskDecisionForm
from tests.plugins.expense.models import ExpenseProcess


class ExpenseClaimForm(forms.ModelForm):
    class Meta:
        model = ExpenseProcess
        fields = ["title", "amount", "currency"]


class ExpenseDecisionForm(TaskDecisionForm):
    choices = [("approve", "Approve"), ("reject", "Reject")]
    reason_required = "Say why the claim is rejected."
