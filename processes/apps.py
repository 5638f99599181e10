from django.apps import AppConfig


class ProcessesConfig(AppConfig):
    name = "processes"
    verbose_name = "Processes"

    def ready(self) -> None:
        from viewflow.workflow.activation import Activation

        from processes import flows  # noqa: F401 - registers the flows and their permissions
        from processes.audit import audit_transition

        # Every task state change passes through viewflow's transition state machine; one hook
        # there writes the audit trail for views, bulk actions, timers and jobs alike.
        Activation.status.on_success()(audit_transition)
