"""Recording a notification reads its recipients' preferences, languages and absences in one
query (issue 16), and writes as it did: each in their language, as each prefers."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.translation import gettext_lazy as _

from processes.languages.models import LanguagePreference
from processes.models import Delivery, Notification, NotificationKind, NotificationPreference
from processes.notifications.services import notifications_record

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("as_query", [False, True])
def test_one_query_reads_the_recipients_then_one_insert_writes(alice, olivia, oscar, as_query):
    NotificationPreference.objects.create(
        user=oscar, kind=NotificationKind.TASK_QUEUED, delivery=Delivery.OFF
    )
    LanguagePreference.objects.create(user=olivia, language="de")
    ids = [alice.pk, olivia.pk, oscar.pk]
    user_ids = get_user_model().objects.filter(pk__in=ids).values_list("pk", flat=True) if as_query else ids

    with CaptureQueriesContext(connection) as captured:
        rows = notifications_record(user_ids=user_ids, kind=NotificationKind.TASK_QUEUED, title=_("Approve"))

    assert len(captured) == 2, [q["sql"] for q in captured.captured_queries]
    assert sorted(row.user_id for row in rows) == sorted([alice.pk, olivia.pk])  # oscar: "not at all"
    stored = dict(Notification.objects.values_list("user_id", "delivery"))
    assert stored == {alice.pk: Delivery.LIVE, olivia.pk: Delivery.LIVE}
