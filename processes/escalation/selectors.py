"""When a stage's task is reminded and escalated: moments computed from the pinned policy.

The purchase flow's boundary delays call these. Every moment is an offset from the task's
creation, counted by processes/policies/sla.py (working time when the version has a calendar).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from processes.policies.models import EscalationLevel
from processes.policies.sla import stage_moment


def stage_level(stage: Any, order: int) -> EscalationLevel | None:
    """The stage's escalation level `order` (1-based), or None (the default chain has none)."""
    levels = getattr(stage, "levels", None)
    if levels is None:
        return None
    return next((level for level in levels.all() if level.order == order), None)


def reminder_at(*, stage: Any, start: datetime) -> datetime | None:
    """When a task of `stage` created at `start` is reminded (None: the stage sets no reminder)."""
    if stage is None or getattr(stage, "reminder_before", None) is None or stage.sla is None:
        return None
    return stage_moment(stage, start, stage.sla - stage.reminder_before)


def level_at(*, stage: Any, start: datetime, order: int) -> datetime | None:
    """When level `order` of `stage` fires for a task created at `start` (None: no such level)."""
    level = stage_level(stage, order) if stage is not None else None
    if level is None or stage.sla is None:
        return None
    return stage_moment(stage, start, stage.sla + level.after)
