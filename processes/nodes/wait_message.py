"""WaitMessage: a flow step that waits for a named message from the outside world.

`WaitMessage("shipment.delivered", correlation=lambda process: process.order_ref)` pauses the
process until a message of that name with that correlation key arrives (POST /api/v1/messages/,
or `processes.messages.services.message_receive` in-process). Chain `.OnTimeout(delay, then)`
(viewflow's own timer boundary: the scheduler's timer sweep fires it, its lateness is measured
like every other timer's) for what happens when it does not come.

- Arming (`activate`, NEW -> SCHEDULED, inside the flow's transaction and lock) records a
  `MessageSubscription` (name, correlation key, task). If a matching message was kept because it
  arrived before this step was waiting, it is consumed at once and the process moves on.
- A message for a waiting task completes it under the flow lock (`message_consume`): the task
  goes SCHEDULED -> DONE, audited with the message id, and the next steps are created.
- The timeout boundary, when it fires first, cancels the waiting task under the same lock: a
  message that comes later finds nothing waiting and is kept (its time to live). So a message
  and its timeout, or two deliveries of one message, resume the process exactly once.

See docs/decisions/0014-wait-node.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import timezone
from viewflow.workflow.activation import Activation, has_manage_permission
from viewflow.workflow.base import Node
from viewflow.workflow.context import Context
from viewflow.workflow.flow import mixins as flow_mixins
from viewflow.workflow.flow import views as flow_views
from viewflow.workflow.nodes import mixins
from viewflow.workflow.status import STATUS

NAME_MAX_LENGTH = 100
CORRELATION_MAX_LENGTH = 200


def _message_taken(activation: WaitMessageActivation) -> bool:
    return bool((activation.task.data or {}).get("message"))


class WaitMessageActivation(mixins.NextNodeActivationMixin, Activation):
    """Waiting is SCHEDULED; a consumed message completes it (SCHEDULED -> DONE)."""

    @Activation.status.transition(source=STATUS.NEW, target=STATUS.SCHEDULED)
    def activate(self) -> None:
        from processes.messages.services import message_wait_arm

        self.task.data = self.task.data or {}
        self.task.data["waits_for"] = {
            "name": self.flow_task.message_name,
            "correlation_key": self.flow_task.correlation_key(self.process),
        }
        self.task.save()
        # May take a kept message at once: then `_activate_next` completes this task right away.
        message_wait_arm(activation=self)

    @Activation.status.transition(source=STATUS.SCHEDULED, target=STATUS.DONE, conditions=[_message_taken])
    def complete(self) -> None:
        super().complete.original()

    @Activation.status.transition(source=STATUS.SCHEDULED, conditions=[_message_taken])
    def execute(self) -> None:
        """Go on after a message was taken (the caller holds the flow lock). Like a timer, a
        failure further on is recorded as that step's error (an incident), not raised: the
        message was taken, and its sender gets its answer."""
        self.complete()
        with Context(propagate_exception=False):
            self.activate_next()

    @Activation.status.transition(
        source=[STATUS.NEW, STATUS.SCHEDULED], target=STATUS.CANCELED, permission=has_manage_permission
    )
    def cancel(self) -> None:
        self.task.finished = timezone.now()
        self.task.save()


class WaitMessage(flow_mixins.NodeDetailMixin, flow_mixins.NodeCancelMixin, mixins.NextNodeMixin, Node):
    """Wait for the message `name` whose correlation key is `correlation(process)`."""

    activation_class = WaitMessageActivation
    task_type = "WAIT"
    bpmn_element = "intermediateCatchEvent"
    index_view_class = flow_views.IndexTaskView
    detail_view_class = flow_views.DetailTaskView
    cancel_view_class = flow_views.CancelTaskView
    shape = {
        "width": 50,
        "height": 50,
        "svg": """
            <circle class="event" cx="25" cy="25" r="24"/>
            <circle class="event" cx="25" cy="25" r="20"/>
            <rect class="event" x="13" y="16" width="24" height="18" fill="none"/>
            <path class="event" d="M13,16 L25,26 L37,16" fill="none"/>
        """,
    }

    def __init__(self, name: str, *, correlation: Callable[[Any], Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not name or len(name) > NAME_MAX_LENGTH:
            raise ValueError(f"a message name is 1 to {NAME_MAX_LENGTH} characters")
        if not callable(correlation):
            raise TypeError("correlation must be a callable taking the process")
        self.message_name = name
        self._correlation = correlation

    def correlation_key(self, process: Any) -> str:
        """The correlation key of `process`'s wait (refused when empty or too long)."""
        key = str(self._correlation(process) or "")
        if not key or len(key) > CORRELATION_MAX_LENGTH:
            raise ValueError(
                f"{self.name}: the correlation key must be 1 to {CORRELATION_MAX_LENGTH} characters, got {key!r}"
            )
        return key

    def bpmn_content(self) -> str:
        return f'<bpmn:messageEventDefinition id="id_{self.name}_message"/>'
