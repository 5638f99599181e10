"""The orders of the demo (design.md section 5): the order policy, the connectors' products, and
orders that completed, wait in fraud review, were compensated, or failed. Loaded by
`manage.py demo_data`; running it twice changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from viewflow.workflow.models import Process, Task
from viewflow.workflow.status import STATUS

from processes.api.keys import signing_key_rotate
from processes.api.models import ApiClient, Scope
from processes.api.services import api_client_create
from processes.connectors.models import Connector, ConnectorFaults, Product
from processes.nodes.celery_job import job_execute
from processes.orders.models import OrderPolicy, OrderProcess
from processes.orders.services import order_start_api

PRODUCTS = [
    # sku, name, unit price, on hand
    ("DESK-01", "Standing desk", "499.00", 25),
    ("CHAIR-02", "Office chair", "189.00", 40),
    ("LAMP-03", "Desk lamp", "39.90", 0),
    ("MON-04", "27-inch monitor", "279.00", 15),
]

# The order policy on first load: the default fraud threshold and a short fraud review SLA, as
# the purchase policy's are short, so the waiting review's reminder comes during a demo.
ORDER_POLICY = {"fraud_threshold": 70, "fraud_review_sla": timedelta(minutes=30)}

# customer, email, lines, what the demo shows
ORDERS = [
    ("Ada Lovelace", "ada@example.com", [("DESK-01", 1), ("CHAIR-02", 1)], "completed"),
    ("Mallory Fraudster", "mallory@mailinator.com", [("MON-04", 2)], "fraud review"),
    ("Grace Hopper", "grace@example.com", [("MON-04", 1), ("LAMP-03", 2)], "compensated"),
    ("Alan Turing", "alan@example.com", [("CHAIR-02", 2)], "failed job"),
    # its payment step was lost two hours ago (canceled by hand after its worker died): nothing is
    # open, nothing will move it, and the operations dashboard lists it as stuck
    ("Charles Babbage", "charles@example.com", [("DESK-01", 1)], "stuck"),
]
STUCK_FOR = timedelta(hours=2)


def demo_load(users: dict[str, Any], write: Any) -> None:
    _carrier_client(write)
    with transaction.atomic():
        _order_policy(write)
        for sku, name, price, stock in PRODUCTS:
            Product.objects.get_or_create(
                sku=sku, defaults={"name": name, "unit_price": price, "on_hand": stock}
            )
    for customer, email, lines, shows in ORDERS:
        if OrderProcess.objects.filter(customer_email=email).exists():
            continue
        _order(customer, email, lines, shows)
        write(f"demo order: {customer} ({shows})")


def _carrier_client(write: Any) -> None:
    """The fake carrier's API client (scope webhooks:receive) and signing key: it signs its
    delivery callbacks with the key, and sends the token, which is written to var/carrier-token
    (the fake carrier's own configuration; the database keeps only its hash)."""
    name = settings.CARRIER_CLIENT_NAME
    if ApiClient.objects.filter(name=name).exists():
        return
    client, token = api_client_create(
        name=name,
        scopes=[Scope.WEBHOOKS_RECEIVE],
        description="The fake carrier: posts signed shipment.delivered callbacks (processes/connectors).",
    )
    signing_key_rotate(client=client, overlap=timedelta(0))
    path = settings.VAR_DIR / "carrier-token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    write(f"demo API client: {name} (webhooks:receive, signing key; token in {path})")


def _order_policy(write: Any) -> None:
    """The order rules (fraud threshold, fraud review SLA), unless an admin already set them."""
    if OrderPolicy.objects.exists():
        return
    policy = OrderPolicy(pk=OrderPolicy.SINGLE_PK, **ORDER_POLICY)
    policy.full_clean()
    policy.save()
    write(
        f"demo order policy: fraud threshold {policy.fraud_threshold}, fraud review SLA {policy.fraud_review_sla}"
    )


def _order(customer: str, email: str, lines: list[tuple[str, int]], shows: str) -> None:
    """Place an order and run its automated steps right here, as the worker would."""
    order = order_start_api(
        order={
            "customer_name": customer,
            "customer_email": email,
            "payment_method": "card",
            "shipping_address": "1 Demo Street, Springfield",
            "lines": [{"sku": sku, "qty": qty} for sku, qty in lines],
        }
    )
    if shows == "stuck":
        _lose_step(order)
        return
    if shows == "failed job":  # the mailer is down for longer than the step retries
        ConnectorFaults.objects.update_or_create(connector=Connector.MAILER, defaults={"refuse_next": 100})
    try:
        for _ in range(50):
            job = Task.objects.filter(process=order, flow_task_type="JOB", status=STATUS.SCHEDULED).first()
            if job is None:
                break
            job_execute(job.flow_task.activation_class(job).ref())
    finally:
        ConnectorFaults.objects.filter(connector=Connector.MAILER).update(refuse_next=0)


def _lose_step(order: OrderProcess) -> None:
    """Cancel the order's scheduled step without running it, and move the order STUCK_FOR back in
    time: a step a dead worker left and someone canceled in the database. Demo data only: the
    portal never cancels a step this way (its incident and cancel actions go through viewflow)."""
    open_statuses = [STATUS.NEW, STATUS.SCHEDULED]  # the step, and its error boundary beside it
    Task.objects.filter(process=order, status__in=open_statuses).update(
        status=STATUS.CANCELED, finished=timezone.now()
    )
    Process.objects.filter(pk=order.pk).update(created=F("created") - STUCK_FOR)
    Task.objects.filter(process=order).update(
        created=F("created") - STUCK_FOR, finished=F("finished") - STUCK_FOR
    )
