"""The operations dashboard page: process managers only, a link to act from every row, a fixed
number of queries, and a live page (ADR 0020)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client
from django.utils import timezone
from viewflow.workflow.models import Process, Task
from viewflow.workflow.status import STATUS

from processes import live
from processes.tasklist.models import TaskRow
from tests.conftest import page_queries

pytestmark = pytest.mark.django_db

URL = "/operations/dashboard/"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_process_managers_see_the_dashboard_others_do_not(maria, olivia, alice):
    assert _client(maria).get(URL).status_code == 200
    assert _client(olivia).get(URL).status_code == 403
    assert _client(alice).get(URL).status_code == 403
    response = Client().get(URL)
    assert (response.status_code, response["Location"]) == (302, f"/accounts/login/?next={URL}")


def test_operations_opens_on_the_dashboard(maria):
    response = _client(maria).get("/operations/")

    assert response.status_code == 302
    assert response["Location"].endswith("dashboard/")


def _move_back(process, by: timedelta) -> None:
    """As if the process had started `by` earlier (and nothing had happened since)."""
    Process.objects.filter(pk=process.pk).update(created=F("created") - by)
    Task.objects.filter(process=process).update(created=F("created") - by, finished=F("finished") - by)


@pytest.fixture
def scene(purchase_policy, submit_request, place_order):
    """One of each: a breached task, a task at risk, a stuck order, a failed step."""
    now = timezone.now()
    breached = submit_request(title="Late desk")
    TaskRow.objects.filter(process_id=breached.pk).update(due_at=now - timedelta(minutes=5))
    at_risk = submit_request(title="Risky chair")
    TaskRow.objects.filter(process_id=at_risk.pk).update(
        created=now - timedelta(hours=4), due_at=now + timedelta(minutes=10)
    )
    stuck = place_order(email="stuck@example.com")
    _move_back(stuck, timedelta(hours=3))
    failed = place_order(email="failed@example.com")
    job = Task.objects.get(process=failed, flow_task_type="JOB")
    Task.objects.filter(pk=job.pk).update(status=STATUS.ERROR, finished=now)
    return {"breached": breached, "at_risk": at_risk, "stuck": stuck, "failed": failed, "job": job}


def test_every_row_links_to_its_instance_and_its_action(scene, maria):
    page = _client(maria).get(URL).content.decode()

    breached_task = Task.objects.get(process=scene["breached"], flow_task_type="HUMAN")
    at_risk_task = Task.objects.get(process=scene["at_risk"], flow_task_type="HUMAN")
    assert f'id="ops-breached-{breached_task.pk}"' in page
    assert f'id="ops-risk-{at_risk_task.pk}"' in page
    assert f'href="/purchase/{scene["breached"].pk}/"' in page
    assert f'href="/purchase/{scene["breached"].pk}/approve/{breached_task.pk}/"' in page
    assert f'href="/operations/tasks/{breached_task.pk}/reassign/"' in page
    assert f'id="stuck-{scene["stuck"].pk}"' in page
    assert f'href="/order/{scene["stuck"].pk}/"' in page
    assert f'action="/operations/incidents/{scene["job"].pk}/retry/"' in page
    assert f'href="/operations/incidents/#incident-{scene["job"].pk}"' in page
    for region in ("summary", "stuck", "breached", "risk", "incidents", "types"):
        assert f"<!--live:{region}-->" in page


def test_retry_from_the_dashboard_comes_back_to_it(scene, maria):
    from unittest import mock

    from processes.nodes import celery_job

    with mock.patch.object(celery_job, "job_send", return_value=True):
        response = _client(maria).post(
            f"/operations/incidents/{scene['job'].pk}/retry/", {"next": URL, "reason": "The ERP is back."}
        )

    assert (response.status_code, response["Location"]) == (302, URL)
    scene["job"].refresh_from_db()
    assert scene["job"].status != "ERROR"  # retried (revived), not left failed


def test_the_page_costs_the_same_queries_however_much_there_is(scene, maria, place_order, submit_request):
    client = _client(maria)
    client.get(URL)  # warm: content types, the flows' URL names
    before = len(page_queries(client, URL))
    now = timezone.now()
    for n in range(3):  # more of each kind
        order = place_order(email=f"more{n}@example.com")
        _move_back(order, timedelta(hours=3))
        late = submit_request(title=f"Late {n}")
        TaskRow.objects.filter(process_id=late.pk).update(due_at=now - timedelta(minutes=5))

    after = page_queries(client, URL)

    assert len(after) == before
    # 17, the user's language (processes/languages/), and the pins for the drawer (ADR 0022), less
    # one since the user's and the groups' permissions come in one query (processes/auth.py), less
    # one since that query also reads the user's language (processes/languages/selectors.py)
    assert len(after) == 17, "\n".join(after)


def test_the_dashboard_is_a_live_page_with_its_own_channel(maria):
    watch = live.watch_parse(URL)

    assert watch is not None
    assert (watch.url_name, watch.channel) == ("index", "operations")
    assert live.watch_parse("/operations/incidents/") is None
