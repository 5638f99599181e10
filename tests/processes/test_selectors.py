"""Read-side queries shared by every process: a process's history in words."""

from __future__ import annotations

import re

import pytest

from processes.audit import acting_as
from processes.selectors import process_history
from processes.services import task_claim, task_delegate, task_reassign
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


def _lines(process) -> list[tuple[str, str, str, str]]:
    return [(row["who"], row["what"], row["step"], row["detail"]) for row in process_history(process)]


def test_the_history_tells_a_delegation_from_a_managers_reassignment(submit_request, olivia, oscar, maria):
    process = submit_request()
    task = task_of(process, "approve")
    task_claim(task=task, user=olivia)

    task_delegate(task=task, user=olivia, to_user=oscar)
    task_reassign(task=task, user=maria, to_user=olivia)

    assert _lines(process) == [
        ("alice", "Submitted", "New purchase request", ""),
        ("alice", "Stage reached", "", "1. Approval (group approvers)"),
        ("olivia", "Claimed", "Approve purchase request", "to olivia"),
        ("olivia", "Delegated", "Approve purchase request", "to oscar"),
        ("maria", "Reassigned", "Approve purchase request", "to olivia"),
    ]


def test_a_holder_handing_over_through_viewflows_transition_reads_delegated(submit_request, olivia, oscar):
    process = submit_request()
    task = task_of(process, "approve")
    task_claim(task=task, user=olivia)

    with acting_as(olivia), task.activation() as activation:
        activation.reassign(user=oscar)

    assert _lines(process)[-1] == ("olivia", "Delegated", "Approve purchase request", "to oscar")


def test_the_process_page_shows_the_delegation(client, submit_request, olivia, oscar, maria):
    process = submit_request()
    task = task_of(process, "approve")
    task_claim(task=task, user=olivia)
    task_delegate(task=task, user=olivia, to_user=oscar)
    client.force_login(maria)

    page = client.get(f"/purchase/{process.pk}/").content.decode()

    history = re.sub(r"\s+", " ", page[page.index("portal-history__table") :])
    assert "<td>olivia</td> <td> <strong>Delegated</strong> · Approve purchase request · to oscar" in history
    assert "Reassigned" not in history
