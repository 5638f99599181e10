"""The scrape's side read (processes/metrics.py `_side_read`): on PostgreSQL the open tasks are
counted on a second connection while the request's own runs the other gauges, so the two largest
reads overlap; inside a transaction they run on its connection, which sees its uncommitted rows."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from processes.metrics import metrics_text

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the side read runs on PostgreSQL only"),
]

PURCHASE = "purchase/flows.PurchaseFlow"


def _open_tasks(body: str) -> float:
    prefix = f'portal_tasks_open{{process_type="{PURCHASE}",stage="Team approval",status="NEW"}} '
    return next(float(line.removeprefix(prefix)) for line in body.splitlines() if line.startswith(prefix))


@pytest.mark.django_db(transaction=True)
def test_a_scrape_counts_the_open_tasks_on_its_own_connection(client, purchase_policy, submit_request):
    submit_request(title="Desk")
    submit_request(title="Chair")

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/metrics")

    assert response.status_code == 200
    assert _open_tasks(response.content.decode()) == 2
    assert not [q for q in queries.captured_queries if "processes_taskrow" in q["sql"]]
    assert [q for q in queries.captured_queries if "viewflow_process" in q["sql"]]  # the stuck count


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_the_scrape_sees_its_uncommitted_rows(purchase_policy, submit_request):
    with transaction.atomic():
        submit_request(title="Desk")
        with CaptureQueriesContext(connection) as queries:
            body = metrics_text().decode()
        transaction.set_rollback(True)

    assert _open_tasks(body) == 1
    assert [q for q in queries.captured_queries if "processes_taskrow" in q["sql"]]
