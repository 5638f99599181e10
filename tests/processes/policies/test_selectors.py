"""Reading a version's approval chain: a published version's is kept by the process once read
(it never changes), a draft's is read each time, and any write to a version, stage or level
forgets what was kept. Group names are read each time: a group may be renamed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from processes.policies.models import EscalationAction, EscalationLevel, PolicyStage, PolicyVersion
from processes.policies.selectors import policy_chain_stages, policy_version_published
from processes.policies.services import policy_version_copy, policy_version_publish

pytestmark = pytest.mark.django_db


def _read(version_id: int) -> tuple[list[PolicyStage], int]:
    with CaptureQueriesContext(connection) as captured:
        stages = policy_chain_stages(version_id)
        described = [
            (stage.name, stage.group.name, [level.action for level in stage.levels.all()]) for stage in stages
        ]
        assert described  # every part a caller reads, read within the count
        stages[0].version.time_zone  # noqa: B018 - the calendar is at hand too
    return stages, len(captured)


def test_a_published_chain_is_read_once_then_only_its_groups(purchase_policy):
    first, cold = _read(purchase_policy.pk)
    again, warm = _read(purchase_policy.pk)
    assert (cold, warm) == (3, 1)
    assert [stage.name for stage in again] == ["Team approval", "Finance review"]
    assert again[0] is not first[0]  # each caller gets its own stages


def test_a_renamed_group_shows_at_once(purchase_policy, roles):
    policy_chain_stages(purchase_policy.pk)
    roles["finance"].name = "Finance and controlling"
    roles["finance"].save()
    stages, _ = _read(purchase_policy.pk)
    assert stages[1].group.name == "Finance and controlling"


def test_a_draft_is_read_each_time(purchase_policy):
    purchase_policy.status = purchase_policy.Status.DRAFT
    purchase_policy.save()
    _, cold = _read(purchase_policy.pk)
    _, again = _read(purchase_policy.pk)
    assert cold == again == 3


def test_a_write_to_a_stage_or_a_level_is_seen_by_the_next_read(purchase_policy):
    policy_chain_stages(purchase_policy.pk)
    stage = PolicyStage.objects.get(version=purchase_policy, order=1)
    stage.sla = timedelta(hours=2)
    stage.save()
    assert policy_chain_stages(purchase_policy.pk)[0].sla == timedelta(hours=2)
    EscalationLevel.objects.create(stage=stage, order=1, after=timedelta(0), action=EscalationAction.NOTIFY)
    assert [level.order for level in policy_chain_stages(purchase_policy.pk)[0].levels.all()] == [1]


def test_a_version_row_changed_under_the_process_is_read_afresh(purchase_policy):
    """Another process, a flush or a restore may give the id another version: the kept chain is
    checked against the version row on every read, without signals."""
    policy_chain_stages(purchase_policy.pk)
    PolicyStage.objects.filter(version=purchase_policy, order=1).update(name="Renamed elsewhere")
    assert policy_chain_stages(purchase_policy.pk)[0].name == "Team approval"  # the same row: kept
    PolicyVersion.objects.filter(pk=purchase_policy.pk).update(created_at=timezone.now())
    stages, count = _read(purchase_policy.pk)
    assert stages[0].name == "Renamed elsewhere"
    assert count == 4  # the check, then the whole chain again


def test_the_published_version_comes_with_its_policy_in_one_statement(purchase_policy):
    with CaptureQueriesContext(connection) as captured:
        version = policy_version_published(policy_name="purchase")
        assert version.policy.name == "purchase"  # at hand, not read again
    assert version == purchase_policy
    assert len(captured) == 1
    assert policy_version_published(policy_name="no-such-policy") is None


def test_a_newly_published_version_is_the_one_the_next_request_reads(purchase_policy):
    assert policy_version_published(policy_name="purchase") == purchase_policy  # compiled, kept
    draft = policy_version_copy(version=purchase_policy)
    policy_version_publish(version=draft)
    assert policy_version_published(policy_name="purchase") == draft
    draft.status = PolicyVersion.Status.RETIRED
    draft.save()
    assert policy_version_published(policy_name="purchase") is None


def test_a_prepared_read_gives_a_null_foreign_key_as_none(purchase_policy):
    from processes.locks import prepared_read

    purchase_policy.published_by = None
    purchase_policy.save()
    (version,) = prepared_read(
        ("test.published_by",),
        lambda pk: PolicyVersion.objects.filter(pk=pk).select_related("policy", "published_by"),
        purchase_policy.pk,
    ).run()
    with CaptureQueriesContext(connection) as captured:
        assert version.published_by is None
        assert version.policy.name == "purchase"
    assert len(captured) == 0
