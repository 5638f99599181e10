"""How long each stage of a request took: per human step, from its creation to its end (an open
one up to now), named as the task lists name it; and the process page shows them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from processes.purchase.services import purchase_task_decide, purchase_task_revise
from processes.selectors import process_stage_durations
from processes.services import task_claim
from processes.templatetags.process_history import duration
from tests.conftest import task_of

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_each_stage_lasts_from_its_task_s_creation_to_its_end(purchase_policy, submit_request, olivia):
    with time_machine.travel(T0, tick=False):
        process = submit_request(amount="1800.00")  # above 1,000: Team approval, then Finance review
    with time_machine.travel(T0 + timedelta(minutes=25), tick=False):
        approve = task_of(process, "approve")
        task_claim(task=approve, user=olivia)
        purchase_task_decide(task=approve, user=olivia, approved=True, comment="")

    stages = process_stage_durations(process, now=T0 + timedelta(hours=2))

    assert [(s["name"], s["duration"], s["open"]) for s in stages] == [
        ("Team approval", timedelta(minutes=25), False),
        ("Finance review", timedelta(hours=1, minutes=35), True),  # still waiting: up to now
    ]
    assert stages[0]["started"] == T0
    assert stages[1]["finished"] is None


def test_durations_read_as_people_say_them():
    assert [
        duration(timedelta(seconds=40)),
        duration(timedelta(minutes=12, seconds=5)),
        duration(timedelta(hours=1, minutes=5)),
        duration(timedelta(days=2, hours=3, minutes=9)),
    ] == ["40 s", "12 min", "1 h 05 min", "2 d 3 h"]


def test_the_process_page_shows_the_time_per_stage(client, purchase_policy, submit_request, alice):
    process = submit_request()
    client.force_login(alice)

    response = client.get(f"/purchase/{process.pk}/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "Time per stage" in body
    assert "Team approval" in body
    assert "so far" in body


def test_a_stage_that_runs_again_after_a_revision_is_named_with_its_round(
    purchase_policy, submit_request, alice, olivia
):
    process = submit_request(amount="400.00")
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    purchase_task_decide(task=approve, user=olivia, approved=False, comment="Cheaper, please.")
    purchase_task_revise(
        task=task_of(process, "revise"),
        user=alice,
        withdraw=False,
        comment="Found one for 300.",
        data={"title": "Desk", "amount": Decimal("300.00"), "currency": "EUR", "justification": "x"},
    )

    names = [stage["name"] for stage in process_stage_durations(process)]

    assert names[0] == "Team approval"
    assert names[-1] == "Team approval (round 2)"
    assert names.count("Team approval") == 1
