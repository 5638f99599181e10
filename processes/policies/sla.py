"""When a stage's task is due: the one place that turns a stage's SLA into a moment.

The task lists (due column, overdue filter) and the escalation timers both read this, so
what an operator sees as "due" is exactly when escalation fires.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def stage_due_at(stage: Any, start: datetime) -> datetime | None:
    """The due moment of a task of `stage` created at `start`: `start` plus the stage's SLA
    (None when the stage has no SLA, as the default chain without a published policy)."""
    sla = getattr(stage, "sla", None)
    if sla is None:
        return None
    return start + sla
