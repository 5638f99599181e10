from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from processes.forms import TaskDecisionForm


class DecisionForm(TaskDecisionForm):
    """A stage's decision on a request: approve, or reject with a reason."""

    choices = [("approve", _("Approve")), ("reject", _("Reject"))]
    reason_required = _("Say why the request is rejected.")
