"""The order policy admins edit: the fraud review SLA is positive, four hours unless changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from processes.orders.models import OrderPolicy

pytestmark = pytest.mark.django_db

NOT_POSITIVE = "The SLA must be longer than zero, for example 4:00:00 for four hours."


def test_the_fraud_review_sla_is_four_hours_by_default():
    assert OrderPolicy.current().fraud_review_sla == timedelta(hours=4)


@pytest.mark.parametrize("sla", [timedelta(0), timedelta(minutes=-5)])
def test_a_zero_or_negative_fraud_review_sla_is_refused_with_a_clear_message(sla):
    policy = OrderPolicy.current()
    policy.fraud_review_sla = sla

    with pytest.raises(ValidationError) as refused:
        policy.full_clean()

    assert refused.value.message_dict == {"fraud_review_sla": [NOT_POSITIVE]}


def test_the_database_refuses_a_zero_fraud_review_sla_too():
    policy = OrderPolicy.current()

    with pytest.raises(IntegrityError), transaction.atomic():
        OrderPolicy.objects.filter(pk=policy.pk).update(fraud_review_sla=timedelta(0))

    policy.refresh_from_db()
    assert policy.fraud_review_sla == timedelta(hours=4)


def test_the_admin_refuses_a_zero_sla_and_saves_a_positive_one(admin_client):
    policy = OrderPolicy.current()
    url = f"/admin/orders/orderpolicy/{policy.pk}/change/"

    refused = admin_client.post(url, {"fraud_threshold": "70", "fraud_review_sla": "0:00:00"})

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors == {"fraud_review_sla": [NOT_POSITIVE]}
    policy.refresh_from_db()
    assert policy.fraud_review_sla == timedelta(hours=4)

    saved = admin_client.post(url, {"fraud_threshold": "60", "fraud_review_sla": "2:30:00"})

    assert saved.status_code == 302
    policy.refresh_from_db()
    assert (policy.fraud_threshold, policy.fraud_review_sla) == (60, timedelta(hours=2, minutes=30))
