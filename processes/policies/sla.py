"""When a human task is due: the one place that turns an SLA into a moment.

The task lists (due column, overdue filter) and the escalation timers both read this, so
what an operator sees as "due" is exactly when escalation fires. With a business calendar on the
policy version (working days and hours in a time zone), every offset counts working time only:
a 4-hour SLA started on Friday at 16:00 with 9:00-17:00 working hours is due on Monday at 12:00.
The reminder and the escalation levels are offsets from the task's start too (SLA minus the
reminder, SLA plus the level's `after`), so they follow the same calendar.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# A calendar with working hours always finds working time within a week; this bounds the walk
# for absurd offsets (years of working time) instead of looping on a broken calendar.
_MAX_DAYS = 3700


def stage_due_at(stage: Any, start: datetime) -> datetime | None:
    """The due moment of a task of `stage` created at `start`: `start` plus the stage's SLA,
    in working time when its version has a calendar (None when the stage has no SLA, as the
    default chain without a published policy)."""
    sla = getattr(stage, "sla", None)
    if sla is None:
        return None
    return stage_moment(stage, start, sla)


def stage_moment(stage: Any, start: datetime, offset: timedelta) -> datetime:
    """`start` plus `offset`, counted in the stage's calendar when its version has one."""
    version = getattr(stage, "version", None)
    if version is None or not version.has_calendar or version.calendar_problems():
        return start + offset
    return working_time_add(
        start,
        offset,
        weekdays=version.weekdays,
        hours=version.hours,
        time_zone=version.time_zone,
    )


def working_time_add(
    start: datetime, offset: timedelta, *, weekdays: set[int], hours: tuple[Any, Any], time_zone: str
) -> datetime:
    """The moment `offset` of working time after `start` (aware, returned in UTC).

    Working time is `hours` (local start, local end) on the ISO `weekdays`, in `time_zone`.
    Windows are computed in local time and measured in UTC, so a DST change moves them with the
    wall clock. A zero offset is `start` itself, even outside working hours.
    """
    if offset <= timedelta(0):
        return start + offset
    zone = ZoneInfo(time_zone)
    cursor = start.astimezone(UTC)
    remaining = offset
    day = start.astimezone(zone).date()
    for _ in range(_MAX_DAYS):
        if day.isoweekday() in weekdays:
            opens = datetime.combine(day, hours[0], tzinfo=zone).astimezone(UTC)
            closes = datetime.combine(day, hours[1], tzinfo=zone).astimezone(UTC)
            begin = max(cursor, opens)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        day += timedelta(days=1)
    raise ValueError(f"No working time within {_MAX_DAYS} days of {start} for {offset}")
