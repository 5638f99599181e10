from django.apps import AppConfig


class ProcessesConfig(AppConfig):
    """The core. It knows no process: each process plug-in (an installed app) registers one
    descriptor from its `descriptor` module, which `registry.autodiscover` imports here."""

    name = "processes"
    verbose_name = "Processes"

    def ready(self) -> None:
        from django.conf import settings
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_delete, post_init, post_save
        from viewflow.workflow.activation import Activation
        from viewflow.workflow.models import Task

        from processes import security_checks  # noqa: F401 - registers the deploy checks
        from processes.registry import autodiscover

        # Every app's models are loaded by now; the descriptors import their flows, which
        # registers the flows' permissions before migrations create permissions.
        autodiscover()
        from processes.actionlinks import checks  # noqa: F401 - registers the deploy check
        from processes.actionlinks.services import escalation_email_finish
        from processes.api.models import ApiClient
        from processes.audit import audit_observer_register, audit_transition
        from processes.mail.services import mail_finisher_register
        from processes.metrics import metrics_from_audit, metrics_process_saved
        from processes.notifications import signals as notification_signals
        from processes.notifications.services import notify_transition
        from processes.tasklist.services import task_row_on_save, task_row_transition
        from processes.webhooks.models import WebhookEndpoint
        from processes.webhooks.services import endpoints_forget, webhook_events_from_audit

        # Every task state change passes through viewflow's transition state machine; one hook
        # there writes the audit trail for views, bulk actions, timers and jobs alike. The state
        # machine holds one hook only, so the notification outbox is called from the same one.
        # The task list's row goes last: until then it still names a reassigned task's previous
        # holder, which the audit trail records.
        def on_transition(*args, **kwargs) -> None:
            audit_transition(*args, **kwargs)
            notify_transition(*args, **kwargs)
            task_row_transition(*args, **kwargs)

        Activation.status.on_success()(on_transition)
        # Webhooks out: the audited changes subscribers hear of, queued in their transaction.
        audit_observer_register(webhook_events_from_audit)
        # It reads the subscriptions once per flow-lock block; a change to one is seen at once.
        for model in (WebhookEndpoint, ApiClient):
            for signal in (post_save, post_delete):
                signal.connect(
                    endpoints_forget, sender=model, dispatch_uid=f"processes.webhooks.forget.{model.__name__}"
                )
        # Approval chains of published versions are kept once read; a write forgets them.
        from processes.policies.models import EscalationLevel, PolicyStage, PolicyVersion
        from processes.policies.selectors import policy_chains_forget

        for policy_model in (PolicyVersion, PolicyStage, EscalationLevel):
            for signal in (post_save, post_delete):
                signal.connect(
                    policy_chains_forget,
                    sender=policy_model,
                    dispatch_uid=f"processes.policies.forget.{policy_model.__name__}",
                )
        # Metrics: the same events, counted after their commit (processes/metrics.py, ADR 0018).
        audit_observer_register(metrics_from_audit)
        # A cancelled process is the one state change viewflow makes without a transition hook.
        from processes.registry import registry

        for model in {descriptor.flow.process_class for descriptor in registry}:
            post_save.connect(
                metrics_process_saved,
                sender=model,
                dispatch_uid=f"processes.metrics.cancelled.{model._meta.label}",
            )
        # Escalation emails are stored with link placeholders; their secrets are minted on delivery.
        mail_finisher_register("escalation", escalation_email_finish)
        # Live notifications: a logout or a deactivation closes the sockets it ends; a task
        # remembers its owner when loaded, for "reassigned" and "put back in the queue".
        user_logged_out.connect(
            notification_signals.on_logged_out, dispatch_uid="processes.notifications.session_ended"
        )
        post_save.connect(
            notification_signals.on_user_saved,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="processes.notifications.user_deactivated",
        )
        # The request's log lines name its peer, never an address from a header (processes.clients).
        from django_structlog.signals import bind_extra_request_metadata

        from processes.clients import request_log_bind_peer

        bind_extra_request_metadata.connect(request_log_bind_peer, dispatch_uid="processes.clients.log_peer")
        # The task lists: a row for every people's task, created with it.
        post_save.connect(task_row_on_save, sender=Task, dispatch_uid="processes.tasklist.task_row")
        post_init.connect(
            notification_signals.remember_owner,
            sender=Task,
            dispatch_uid="processes.notifications.remember_owner",
        )
