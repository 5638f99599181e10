"""Process types in the admin: creating one makes its first draft, a draft's page edits its form
and chain, a condition that does not fit the form is refused on its field, publishing and copying
work as for policies."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from processes.catalog.models import ProcessType, TypeVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, roles):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "portal-demo")
    client.force_login(admin)
    return client


def _formset(prefix: str, rows: list[dict], initial: int = 0) -> dict:
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{key}": value for key, value in row.items()})
    return data


def test_creating_a_type_makes_its_policy_and_first_draft(admin_client, roles):
    response = admin_client.post(
        "/admin/catalog/processtype/add/",
        {
            "name": "Expense claim",
            "slug": "expense-claim",
            "description": "",
            "icon": "receipt_long",
            "starter_groups": [roles["requesters"].pk],
            "on_approved": "notify",
            "on_rejected": "email",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    process_type = ProcessType.objects.get()
    assert process_type.policy.managed_by == "catalog"
    assert list(process_type.starter_groups.all()) == [roles["requesters"]]
    (version,) = TypeVersion.objects.filter(policy=process_type.policy)
    assert (version.number, version.status) == (1, "draft")
    assert roles["requesters"].permissions.filter(codename="view_catalogrequest").exists()
    # The policy admin does not list the type's chain: it is edited here.
    assert (
        "catalog-expense-claim" not in admin_client.get("/admin/processes/approvalpolicy/").content.decode()
    )
