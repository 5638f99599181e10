"""HTTP walk-through of the order process: entering an order, reviewing suspected fraud."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from django.urls import get_resolver
from viewflow.workflow.status import STATUS

from processes.nodes import celery_job
from processes.orders.flows import OrderFlow
from processes.orders.models import OrderProcess
from tests.conftest import task_of
from tests.processes.orders.test_flows import run_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _setup():
    assert get_resolver().url_patterns
    with mock.patch.object(celery_job, "job_send", return_value=True):
        yield


def test_sales_enters_an_order_and_bad_lines_are_explained(client, alice, catalogue):
    client.force_login(alice)
    url = OrderFlow.start.reverse("execute")
    order = {
        "customer_name": "Ada",
        "customer_email": "ada@example.com",
        "payment_method": "card",
        "shipping_address": "1 Analytical Row",
    }

    bad = client.post(url, {**order, "order_lines": "DESK-01 two\nNOPE 1"})
    assert bad.status_code == 200
    assert "Line 1: write a SKU and a quantity" in bad.content.decode()
    unknown = client.post(url, {**order, "order_lines": "NOPE-9 1"})
    assert "Unknown SKU: NOPE-9" in unknown.content.decode()
    assert not OrderProcess.objects.exists()

    assert client.post(url, {**order, "order_lines": "desk-01 1\nCHAIR-02 2"}).status_code == 302
    created = OrderProcess.objects.get()
    assert [(line["sku"], line["qty"]) for line in created.lines] == [("DESK-01", 1), ("CHAIR-02", 2)]
    assert str(created.total) == "877.00"
    assert task_of(created, "authorize_payment").status == STATUS.SCHEDULED


def test_the_fraud_group_reviews_and_others_cannot(client, place_order, roles, django_user_model, olivia):
    fiona = django_user_model.objects.create_user("fiona", password="x")
    fiona.groups.add(roles["fraud"])
    order = place_order(email="someone@mailinator.com")
    run_jobs(order)
    review = task_of(order, "review_fraud")

    client.force_login(olivia)  # an approver of purchases: may not see orders at all
    assert client.post(review.reverse("assign")).status_code == 403

    client.force_login(fiona)
    assert client.post(review.reverse("assign")).status_code == 302
    no_reason = client.post(review.reverse("execute"), {"decision": "cancel", "comment": ""})
    assert "Say why the order is cancelled." in no_reason.content.decode()
    assert client.post(review.reverse("execute"), {"decision": "release", "comment": ""}).status_code == 302

    order.refresh_from_db()
    assert OrderProcess.objects.get(pk=order.pk).fraud_cleared is True
    assert task_of(order, "capture_payment").status == STATUS.SCHEDULED


def test_the_review_page_shows_the_time_allowed_pinned_on_the_order(
    client, place_order, roles, django_user_model
):
    fiona = django_user_model.objects.create_user("fiona", password="x")
    fiona.groups.add(roles["fraud"])
    order = place_order(email="someone@mailinator.com")
    run_jobs(order)
    review = task_of(order, "review_fraud")
    client.force_login(fiona)
    client.post(review.reverse("assign"))

    page = client.get(review.reverse("execute"))

    assert page.status_code == 200
    assert re.search(r"Fraud review time allowed\s*</[^>]+>\s*<[^>]+>\s*4:00:00", page.content.decode())
