from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from viewflow import this
from viewflow.workflow import act, flow

from processes import locks, nodes
from processes.catalog import services, views
from processes.catalog.models import CatalogRequest
from processes.escalation.flows import StageEscalationMixin, level_due, reminder_due, stage_route
from processes.nodes import DeadlineView


class CatalogFlow(StageEscalationMixin, flow.Flow):
    """Catalog request

    The one flow of every process type defined in the admin (processes/catalog): the requester's
    form starts it (the type's own start page, or the API), then the stages of the version the
    request pinned decide in turn, each in its group's queue, those whose condition holds on the
    request's values. A rejection ends the request; so does the last approval (its decision runs
    the type's outcome: services.catalog_decide).
    """

    process_title = _("Catalog request")  # the docstring's first line, translatable

    process_class = CatalogRequest
    process_title = _("Catalog request")
    # Not viewflow's lock.select_for_update_lock: it retries in an aborted savepoint (locks.py).
    lock_impl = locks.select_for_update_lock
    process_summary_template = "{{ process.subject }}"

    # Started from code only: each type's start page validates its own form (views.py).
    start = nodes.StartHandle(this.start_request).Annotation(title=_("Request submitted")).Next(this.route)
    # Moves the request to its first stage whose condition holds and goes to it (or, with none,
    # to its end).
    route = (
        nodes.Route(this.stage_next)
        .Annotation(title=_("Next approval stage"))
        .Case(this.approve, act.process.has_stage, label=_("next stage"))
        .Default(this.approved)
    )
    # Its boundaries, by name: approve__timeout (reminder), approve__timeout_2, _3 and _4
    # (escalation levels 1 to 3). Armed timers store the names: only ever append new ones.
    approve = (
        DeadlineView(views.CatalogDecisionView.as_view())
        .Annotation(
            title=_("Approve request"),
            summary_template=(
                "{{ process.subject }}{% if task.data.stage_name %} · {{ task.data.stage_name }}{% endif %}"
            ),
        )
        .Permission("catalog.approve_request")
        .onCreate(stage_route)
        .OnTimeout(reminder_due, this.remind, interrupting=False, title=_("Reminder"))
        .OnTimeout(level_due(1), this.escalate_1, interrupting=False, title=_("Escalation level 1"))
        .OnTimeout(level_due(2), this.escalate_2, interrupting=False, title=_("Escalation level 2"))
        .OnTimeout(level_due(3), this.escalate_3, interrupting=False, title=_("Escalation level 3"))
        .Next(this.check_approved)
    )
    remind = nodes.Function(this.task_remind).Annotation(title=_("Remind"))
    escalate_1 = nodes.Function(this.task_escalate_1).Annotation(title=_("Escalate (level 1)"))
    escalate_2 = nodes.Function(this.task_escalate_2).Annotation(title=_("Escalate (level 2)"))
    escalate_3 = nodes.Function(this.task_escalate_3).Annotation(title=_("Escalate (level 3)"))
    # After a decision: a rejection ends the request; an approval moves it to its next stage and
    # goes to it, or past the last one to its end.
    check_approved = (
        nodes.Route(this.stage_after_decision)
        .Annotation(title=_("Approved? Next approval stage"))
        .Case(this.rejected, act.process.rejected, label=_("no"))
        .Case(this.approve, act.process.has_stage, label=_("next stage"))
        .Default(this.approved)
    )
    approved = nodes.End().Annotation(title=_("Approved"))
    rejected = nodes.End().Annotation(title=_("Rejected"))

    def start_request(self, activation, process_type, version, requester, values):
        return services.catalog_request_submit(
            activation=activation,
            process_type=process_type,
            version=version,
            requester=requester,
            values=values,
        )

    def stage_next(self, activation) -> None:
        services.catalog_stage_next(process=activation.process)

    def stage_after_decision(self, activation) -> None:
        services.catalog_stage_after_decision(process=activation.process)
