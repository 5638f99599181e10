"""Business-calendar SLAs, and what publishing refuses in escalation levels and calendars."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from viewflow.workflow.models import Task

from processes.policies.models import EscalationAction, EscalationLevel, PolicyVersion
from processes.policies.services import policy_create, policy_version_copy, policy_version_validate
from processes.policies.sla import stage_due_at, working_time_add

pytestmark = pytest.mark.django_db

BERLIN = {"weekdays": {1, 2, 3, 4, 5}, "hours": (time(9), time(17)), "time_zone": "Europe/Berlin"}


@pytest.mark.parametrize(
    ("start", "offset", "due"),
    [
        # Monday 10:00 Berlin (09:00 UTC) + 4 h: same day 14:00 Berlin.
        (
            datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
            timedelta(hours=4),
            datetime(2026, 11, 23, 13, 0, tzinfo=UTC),
        ),
        # Friday 16:00 Berlin + 4 h: 1 h on Friday, 3 h on Monday, due Monday 12:00 Berlin.
        (
            datetime(2026, 11, 27, 15, 0, tzinfo=UTC),
            timedelta(hours=4),
            datetime(2026, 11, 30, 11, 0, tzinfo=UTC),
        ),
        # Saturday night: the clock starts on Monday at 9:00 Berlin.
        (
            datetime(2026, 11, 28, 22, 0, tzinfo=UTC),
            timedelta(hours=1),
            datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
        ),
        # Two full working days from Monday 09:00: Tuesday 17:00 Berlin.
        (
            datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
            timedelta(hours=16),
            datetime(2026, 11, 24, 16, 0, tzinfo=UTC),
        ),
        # Across the spring DST change (29 March 2026): windows follow the wall clock.
        (
            datetime(2026, 3, 27, 15, 0, tzinfo=UTC),
            timedelta(hours=2),
            datetime(2026, 3, 30, 8, 0, tzinfo=UTC),
        ),
    ],
)
def test_working_time_counts_only_working_hours_in_the_calendars_zone(start, offset, due):
    assert working_time_add(start, offset, **BERLIN) == due


def _policy(roles, **version_fields):
    return policy_create(
        name="purchase",
        version_fields=version_fields,
        stages=[
            {
                "name": "Team approval",
                "group": roles["approvers"],
                "sla": timedelta(hours=4),
                "reminder_before": timedelta(hours=1),
                "escalation_group": roles["managers"],
                "levels": [(timedelta(hours=2), EscalationAction.ADD_CANDIDATES)],
            }
        ],
    )


CALENDAR = {
    "working_days": "1,2,3,4,5",
    "work_starts": time(9),
    "work_ends": time(17),
    "time_zone": "Europe/Berlin",
}


def test_stage_due_at_follows_the_versions_calendar_and_so_do_the_timers(roles, submit_request):
    version = _policy(roles, **CALENDAR)
    stage = version.stages.get()
    friday_4pm = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    assert stage_due_at(stage, friday_4pm) == datetime(2026, 11, 30, 11, 0, tzinfo=UTC)

    with time_machine.travel(friday_4pm, tick=False):
        process = submit_request()

    timers = Task.objects.filter(process=process, flow_task_type="TIMER").order_by("scheduled")
    assert [t.scheduled for t in timers] == [
        datetime(2026, 11, 30, 10, 0, tzinfo=UTC),  # reminder: 3 working hours in
        datetime(2026, 11, 30, 13, 0, tzinfo=UTC),  # level 1: 4 + 2 working hours in
    ]


def test_without_a_calendar_the_sla_is_wall_clock_time(roles):
    stage = _policy(roles).stages.get()
    friday_4pm = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    assert stage_due_at(stage, friday_4pm) == friday_4pm + timedelta(hours=4)


def _draft(roles, levels, maria=None, **version_fields):
    return policy_create(
        name="purchase",
        publish=False,
        version_fields=version_fields,
        stages=[
            {
                "name": "Team approval",
                "group": roles["approvers"],
                "sla": timedelta(hours=4),
                "escalation_user": maria,
                "levels": levels,
            }
        ],
    )


def test_publishing_refuses_levels_out_of_order_without_a_target_or_deciding_unallowed(roles):
    draft = _draft(
        roles,
        [
            (timedelta(hours=1), EscalationAction.ADD_CANDIDATES),
            (timedelta(hours=1), EscalationAction.NOTIFY),
            (timedelta(hours=3), EscalationAction.AUTO_APPROVE),
        ],
    )

    assert policy_version_validate(version=draft) == [
        "Stage 1 (Team approval): level 2 must come later than level 1.",
        "Stage 1 (Team approval): level 1 (Add the escalation group as candidates) needs an escalation group.",
        "Stage 1 (Team approval): level 3 decides automatically, but the version does not allow automatic decisions.",
    ]


def test_reassigning_to_an_escalation_user_is_enough_and_a_fourth_level_is_refused(roles, maria):
    draft = _draft(roles, [(timedelta(hours=h), EscalationAction.REASSIGN) for h in (1, 2, 3)], maria=maria)
    assert policy_version_validate(version=draft) == []

    EscalationLevel.objects.create(
        stage=draft.stages.get(), order=4, after=timedelta(hours=4), action="notify"
    )
    assert policy_version_validate(version=draft) == [
        "Stage 1 (Team approval): at most 3 escalation levels (the flow declares that many)."
    ]


def test_publishing_refuses_a_broken_calendar(roles):
    draft = _draft(
        roles, [], working_days="1,2,9", work_starts=time(17), work_ends=time(9), time_zone="Mars/Olympus"
    )

    assert policy_version_validate(version=draft) == [
        "Working days must be ISO weekday numbers 1 (Monday) to 7, comma separated.",
        "Working hours must end after they start (overnight shifts are not supported).",
        "The calendar's time zone 'Mars/Olympus' is not a known time zone.",
    ]


def test_a_copy_keeps_the_levels(roles, maria):
    version = _draft(roles, [(timedelta(0), EscalationAction.NOTIFY)], maria=maria)
    copy = policy_version_copy(version=version)
    assert [(lvl.order, lvl.action) for lvl in EscalationLevel.objects.filter(stage__version=copy)] == [
        (1, "notify")
    ]


def test_the_stage_page_shows_its_levels_and_is_read_only_once_published(admin_client, roles, maria):
    version = _draft(roles, [(timedelta(0), EscalationAction.NOTIFY)], maria=maria)
    stage = version.stages.get()
    url = f"/admin/processes/policystage/{stage.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "levels-0-action" in page  # the editable level inline of a draft
    assert (
        f'href="{url}"'
        in admin_client.get(f"/admin/processes/policyversion/{version.pk}/change/").content.decode()
    )

    PolicyVersion.objects.filter(pk=version.pk).update(status="published")
    page = admin_client.get(url).content.decode()
    assert "levels-0-action" not in page
    assert "Notify the owner" in page
