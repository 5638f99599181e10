"""A process that exists only in the test suite (tests/plugins/expense) plugs in through its
descriptor alone (issue 12): its tasks are listed with its columns, escalate, are decided by
email link, notify live and show their history, and its roles and menu come from the registry.
Nothing under processes/ or portal/ knows it."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.urls import get_resolver
from viewflow.workflow.status import STATUS

from processes.models import AuditEvent, Notification, NotificationKind
from processes.policies.models import EscalationAction
from processes.policies.services import policy_create
from processes.registry import registry
from processes.scheduler import timers_fire_due
from processes.selectors import process_history
from processes.services import task_claim
from tests.conftest import _persona, task_of
from tests.plugins.expense.descriptor import ExpenseDescriptor
from tests.plugins.expense.flows import ExpenseFlow
from tests.plugins.expense.services import expense_claim_start, expense_task_decide

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
SLA = timedelta(hours=4)
LINK_RE = re.compile(r"http://testserver/links/([A-Za-z0-9_-]{43})/")


@pytest.fixture(autouse=True)
def _setup(settings, monkeypatch):
    """The URLconf loaded (viewflow reverses only then), links to the test server, the timer
    sweep's batches run here (eager Celery), no rate-limit counter left by another test."""
    from django.core.cache import cache

    from portal.celery import app

    assert get_resolver().url_patterns
    settings.PORTAL_BASE_URL = "http://testserver"
    settings.ACTION_LINK_RATE_LIMIT_PER_IP = 1000
    settings.ACTION_LINK_RATE_LIMIT_PER_TOKEN = 1000
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    cache.clear()


@pytest.fixture
def erin(roles):
    """Claims expenses."""
    return _persona("erin", ["expense_claimants"], roles)


@pytest.fixture
def edgar(roles):
    """Approves expense claims."""
    return _persona("edgar", ["expense_approvers"], roles)


@pytest.fixture
def emma(roles):
    """Manages expense claims: the escalation group."""
    return _persona("emma", ["expense_managers"], roles)


@pytest.fixture
def expense_policy(roles):
    """One stage: the expense approvers within 4 hours, reminded an hour before, then emailed to
    the expense managers with action links."""
    return policy_create(
        name="expense",
        stages=[
            {
                "name": "Expense check",
                "group": roles["expense_approvers"],
                "sla": SLA,
                "reminder_before": timedelta(hours=1),
                "escalation_group": roles["expense_managers"],
                "levels": [(timedelta(0), EscalationAction.EMAIL)],
            }
        ],
    )


@pytest.fixture
def claim(expense_policy, erin, edgar, emma):
    """Erin's claim, submitted at T0: its process."""
    with time_machine.travel(T0, tick=False):
        return expense_claim_start(
            claimant=erin,
            data={"title": "Taxi to the airport", "amount": Decimal("48.50"), "currency": "EUR"},
        )


def _fire_at(moment: datetime, capture) -> None:
    with time_machine.travel(moment, tick=False), capture(execute=True):
        timers_fire_due()


def _actions(process, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(process=process, action=action).order_by("pk"))


def _ids(response) -> list[int]:
    return [item["row"].task_id for item in response.context["rows"]]


# ---------------------------------------------------------------- plugged in


def test_the_plugin_is_registered_by_its_descriptor_module_and_the_core_does_not_import_it():
    """The import-linter contracts check `processes` and `portal` only, so look here that none of
    their modules imports the test suite (the settings name the app only as an env default)."""
    from pathlib import Path

    assert isinstance(registry.for_flow(ExpenseFlow), ExpenseDescriptor)
    assert ExpenseDescriptor.flow.process_class._meta.app_label == "expense"
    root = Path(__file__).resolve().parents[2]
    importing = [
        str(path.relative_to(root))
        for package in ("processes", "portal")
        for path in (root / package).rglob("*.py")
        if re.search(r"^\s*(from|import)\s+tests\b", path.read_text(), re.MULTILINE)
    ]
    assert importing == []


# ---------------------------------------------------------------- the task lists


def test_its_tasks_appear_in_the_queue_and_inbox_with_its_columns(client, claim, edgar):
    task = task_of(claim, "approve")
    client.force_login(edgar)

    response = client.get("/tasks/queue/")

    assert response.status_code == 200
    assert _ids(response) == [task.pk]
    (item,) = response.context["rows"]
    row = item["row"]
    assert (row.subject, row.requester, row.amount, row.currency) == (
        "Taxi to the airport",
        "erin",
        Decimal("48.50"),
        "EUR",
    )
    assert (row.stage_name, row.due_at) == ("Expense check", T0 + SLA)
    assert "Taxi to the airport" in response.content.decode()

    task_claim(task=task, user=edgar)
    inbox = client.get("/tasks/inbox/")
    assert _ids(inbox) == [task.pk]
    assert _ids(client.get("/tasks/queue/")) == []


# ---------------------------------------------------------------- escalation


def test_it_is_reminded_then_escalated_by_email_with_action_links(
    claim, edgar, emma, mailoutbox, django_capture_on_commit_callbacks
):
    from processes.actionlinks.models import ActionToken

    _fire_at(T0 + SLA - timedelta(hours=1), django_capture_on_commit_callbacks)

    (reminded,) = _actions(claim, "task.reminded")
    assert reminded.details["stage_name"] == "Expense check"
    assert Notification.objects.filter(
        kind=NotificationKind.TASK_REMINDER, user=edgar, process=claim
    ).exists()

    _fire_at(T0 + SLA, django_capture_on_commit_callbacks)

    (escalated,) = _actions(claim, "task.escalated")
    assert (escalated.details["level"], escalated.details["emailed"]) == (1, ["emma"])
    task = task_of(claim, "approve")
    assert set(ActionToken.objects.filter(user=emma, task=task).values_list("action", flat=True)) == {
        "approve",
        "reject",
    }
    (mail,) = [m for m in mailoutbox if m.to == ["emma@example.com"]]
    assert "Taxi to the airport" in mail.subject
    assert len(LINK_RE.findall(mail.body)) == 2
    whats = [row["what"] for row in process_history(claim)]
    assert {"Reminder sent", "Escalated", "Escalation email sent"} <= set(whats)


# ---------------------------------------------------------------- email links


@pytest.fixture
def links(claim, emma, mailoutbox, django_capture_on_commit_callbacks):
    """The escalation email's links to emma, by action."""
    _fire_at(T0 + SLA, django_capture_on_commit_callbacks)
    (mail,) = [m for m in mailoutbox if m.to == ["emma@example.com"]]
    approve, reject = LINK_RE.findall(mail.body)
    # Followed a moment after the email: its links live ACTION_LINK_TTL_HOURS from then.
    with time_machine.travel(T0 + SLA + timedelta(minutes=10), tick=False):
        yield {"approve": approve, "reject": reject}


def test_it_is_decided_by_email_link_through_its_descriptor(client, claim, links, emma):
    page = client.get(f"/links/{links['approve']}/")
    assert page.status_code == 200
    assert "Taxi to the airport" in page.content.decode()

    response = client.post(f"/links/{links['approve']}/", {"comment": "Receipt attached."})

    assert response.status_code == 200
    task = task_of(claim, "approve")
    assert (task.status, task.owner) == (STATUS.DONE, emma)
    claim.refresh_from_db()
    assert claim.approved is True
    assert claim.status == STATUS.DONE  # its End ran: the flow went on from the descriptor's decide
    (decided,) = _actions(claim, "expense.approved")
    assert decided.actor_name == "emma"
    whats = [row["what"] for row in process_history(claim)]
    assert {"Decided by email link", "Expense approved"} <= set(whats)


def test_a_rejection_link_keeps_the_reason(client, claim, links):
    response = client.post(f"/links/{links['reject']}/", {"comment": "No receipt."})

    assert response.status_code == 200
    claim.refresh_from_db()
    assert claim.approved is False
    assert task_of(claim, "refused").status == STATUS.DONE


def test_its_email_and_link_page_do_not_call_it_a_purchase_request(client, claim, links, mailoutbox):
    (mail,) = [m for m in mailoutbox if m.to == ["emma@example.com"]]
    page = client.get(f"/links/{links['approve']}/").content.decode()

    assert "purchase request" not in mail.body
    assert "purchase request" not in page


# ---------------------------------------------------------------- live notifications


@pytest.fixture
def in_memory_layer(settings):
    from channels.layers import channel_layers, get_channel_layer

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield get_channel_layer()
    channel_layers.backends.clear()


def test_a_new_claim_notifies_its_stage_group_and_wakes_its_queue_after_commit(
    expense_policy, erin, edgar, emma, roles, in_memory_layer, django_capture_on_commit_callbacks
):
    from processes.notifications.audiences import live_channels_for

    queue = f"perm.processes.candidate_{roles['expense_approvers'].pk}"
    edgar = type(edgar).objects.get(pk=edgar.pk)
    assert queue in live_channels_for(edgar)
    layer = in_memory_layer
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(queue, channel)

    async def receive(timeout: float = 0.1):
        return await asyncio.wait_for(layer.receive(channel), timeout)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        process = expense_claim_start(
            claimant=erin, data={"title": "Hotel", "amount": Decimal("120.00"), "currency": "EUR"}
        )
    with pytest.raises(TimeoutError):
        async_to_sync(receive)()
    for callback in callbacks:
        callback()
    assert async_to_sync(receive)() == {"type": "live.wake"}

    (note,) = Notification.objects.filter(process=process)
    assert (note.user, note.kind) == (edgar, NotificationKind.TASK_QUEUED)
    assert note.title == "New in your queue: Approve expense claim"
    assert note.body == "Hotel (120.00 EUR)"
    assert note.url == f"/expense/{process.pk}/approve/{task_of(process, 'approve').pk}/"


def test_the_claimant_hears_the_decision_and_the_end(claim, erin, edgar):
    task_claim(task=task_of(claim, "approve"), user=edgar)
    expense_task_decide(task=task_of(claim, "approve"), user=edgar, approved=True, comment="Fine.")

    kinds = list(
        Notification.objects.filter(user=erin, process=claim).order_by("pk").values_list("kind", flat=True)
    )
    assert kinds == [NotificationKind.REQUEST_APPROVED, NotificationKind.REQUEST_COMPLETED]


# ---------------------------------------------------------------- history


def test_its_history_shows_its_own_labelled_events_and_the_cores(claim, edgar):
    task_claim(task=task_of(claim, "approve"), user=edgar)
    expense_task_decide(task=task_of(claim, "approve"), user=edgar, approved=True, comment="Fine.")

    history = [(row["what"], row["who"], row["detail"]) for row in process_history(claim)]
    whats = [what for what, _, _ in history]
    assert whats.index("Submitted") < whats.index("Claimed") < whats.index("Expense approved")
    assert ("Expense policy pinned", "erin", "expense v1") in history
    assert ("Expense approved", "edgar", "") in history
    assert any(what.startswith("Finished") for what in whats)


# ---------------------------------------------------------------- roles and menu


def test_its_roles_come_from_its_descriptor(roles, erin, edgar, emma):
    assert {"expense_claimants", "expense_approvers", "expense_managers"} <= set(roles)
    assert set(roles["expense_approvers"].permissions.values_list("codename", flat=True)) == {
        "view_expenseprocess",
        "approve_expense",
    }
    assert erin.has_perm("expense.start_expense")
    assert type(emma).objects.get(pk=emma.pk).has_perm("expense.manage_expenseprocess")


def test_the_site_menu_lists_its_app(client, edgar):
    from processes.site import portal_site

    apps = [getattr(app, "_flow_class", None) for app in portal_site()._children]
    assert ExpenseFlow in apps
    client.force_login(edgar)
    page = client.get("/tasks/queue/").content.decode()
    assert 'href="/expense/' in page


# ---------------------------------------------------------------- its pages


def test_another_claimants_claim_chart_is_refused_like_its_page(client, claim, roles):
    other = _persona("ezra", ["expense_claimants"], roles)
    client.force_login(other)

    assert client.get(f"/expense/{claim.pk}/").status_code == 403
    assert client.get(f"/expense/{claim.pk}/chart/").status_code == 403


# ---------------------------------------------------------------- the defaults


def test_a_descriptor_with_only_its_flow_has_a_default_for_every_hook(claim):
    """A minimal process is its flow: every hook the core calls answers without an override."""
    from processes.registry import ProcessDescriptor
    from processes.site import process_app

    bare = type("Bare", (ProcessDescriptor,), {"flow": ExpenseFlow})()
    task = task_of(claim, "approve")

    columns = bare.columns(task, claim)
    assert columns.subject == bare.summary(claim) == str(claim.brief)
    # The stage name the flow stored on the task, else the step's title; no amount, no due time.
    assert (columns.amount, columns.due_at, columns.stage_name) == (None, None, task.data["stage_name"])
    assert bare.stage(task, claim) is None
    assert "Approve expense claim" in bare.stage_names()
    assert bare.starter_id(claim) == claim.claimant_id  # the owner of its start task
    assert not bare.decides(task)
    with pytest.raises(NotImplementedError):
        bare.decide(task=task, user=None, approved=True, comment="")
    assert (bare.roles, bare.history_labels, bare.visible_model_wide, bare.policy_field) == (
        {},
        {},
        False,
        None,
    )
    assert bare.history_detail("expense.approved", {}) == ""
    assert bare.flow_ref == "expense/flows.ExpenseFlow"
    assert type(process_app(bare)).__name__ == "GatedFlowAppViewset"
