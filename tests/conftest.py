"""Shared fixtures: personas from the demo roles, and the gate for the service-backed suites.

Tests marked `services`, `cluster` or `e2e` need PostgreSQL, Redis, a real Celery worker, a live ASGI server,
Chromium, Prometheus (`promtool`, `prometheus`) or HAProxy (tests/cluster). They run only with PORTAL_TEST_SERVICES=1, and then a missing service fails the run
at start-up instead of skipping tests silently.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from urllib.parse import urlsplit

import pytest

pytest_plugins = ["tests.stack"]  # the live uvicorn and Celery worker fixtures

SERVICES = os.environ.get("PORTAL_TEST_SERVICES") == "1"
CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=3):
            return True
    except OSError:
        return False


def _services_missing() -> list[str]:
    missing = []
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://", "pgsql://")):
        missing.append("DATABASE_URL must point at PostgreSQL (postgres://...)")
    elif not _reachable(database_url, 5432):
        missing.append(f"PostgreSQL is not reachable at {urlsplit(database_url).hostname}")
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url.startswith("redis://"):
        missing.append("REDIS_URL must point at Redis (redis://...)")
    elif not _reachable(redis_url, 6379):
        missing.append(f"Redis is not reachable at {urlsplit(redis_url).hostname}")
    if not os.access(CHROMIUM, os.X_OK):  # the exact executable the browser tests launch
        missing.append(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    for tool in ("promtool", "prometheus"):  # the alert rules' tests and the real scrape
        if shutil.which(tool) is None:
            missing.append(f"{tool} is not installed (apt-get install -y prometheus)")
    rabbitmq_url = os.environ.get("PORTAL_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")
    if not _reachable(rabbitmq_url, 5672):  # the broker matrix (tests/services)
        missing.append(
            f"RabbitMQ is not reachable at {urlsplit(rabbitmq_url).hostname} (rabbitmq-server -detached)"
        )
    if shutil.which("rabbitmqctl") is None:
        missing.append("rabbitmqctl is not installed (apt-get install -y rabbitmq-server)")
    if shutil.which("haproxy") is None and not os.access("/usr/sbin/haproxy", os.X_OK):  # tests/cluster
        missing.append("haproxy is not installed (apt-get install -y haproxy)")
    from tests.pgserver import postgres_bin_dir  # a private server a cluster test restarts

    if postgres_bin_dir() is None:
        missing.append("PostgreSQL's initdb and pg_ctl are not installed (apt-get install -y postgresql)")
    elif os.geteuid() == 0 and shutil.which("runuser") is None:
        missing.append("runuser is not installed: as root, the private PostgreSQL runs as the postgres user")
    return missing


def pytest_configure(config):
    if SERVICES:
        missing = _services_missing()
        if missing:
            raise pytest.UsageError(
                "PORTAL_TEST_SERVICES=1 but the service-backed suites cannot run:\n  - "
                + "\n  - ".join(missing)
            )


@pytest.hookimpl(trylast=True)  # after pytest-django's own reordering
def pytest_collection_modifyitems(config, items):
    # Browser tests last: they are the slowest, and they allow sync ORM calls beside Playwright's loop.
    items.sort(key=lambda item: "e2e" in item.keywords)
    if SERVICES:
        return
    skip = pytest.mark.skip(
        reason="needs PostgreSQL, Redis, a worker and Chromium: set PORTAL_TEST_SERVICES=1"
    )
    for item in items:
        if "services" in item.keywords or "e2e" in item.keywords or "cluster" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _channel_layer_receive_state_fresh():
    """Each test's event loop starts with the Redis channel layer's receive state empty.

    channels_redis keeps it on the one layer object of the process: a lock per receiving channel,
    released by a task that cleans the message's backup queue after each receive. A test whose
    loop closes while such a task is pending (a socket that just received, torn down at the end
    of the test) leaves that lock held and bound to the dead loop, and every later receive in the
    process fails with "Lock ... is bound to a different event loop": the live-socket tests
    failed that way after an unrelated test, two CI runs in four. A production process has one
    loop, so this is the tests' own state to reset, not the portal's."""
    from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers

    layer = channel_layers.backends.get(DEFAULT_CHANNEL_LAYER)
    if layer is not None and hasattr(layer, "receive_clean_locks"):  # channels_redis
        layer.receive_clean_locks = type(layer.receive_clean_locks)()
        layer.receive_buffer.clear()
        layer.receive_cleaners = []
        layer.receive_count = 0
        layer.receive_lock = None
        layer.receive_event_loop = None


# ---------------------------------------------------------------- personas


@pytest.fixture
def roles(db):
    from processes.roles import roles_sync

    return roles_sync()


def _persona(username: str, groups: list[str], roles, **extra):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(
        username=username, password="portal-demo", email=f"{username}@example.com", **extra
    )
    user.groups.add(*(roles[name] for name in groups))
    return user


@pytest.fixture
def alice(roles):
    """The requester; also enters orders (group sales), as in the demo data."""
    return _persona("alice", ["requesters", "sales"], roles)


@pytest.fixture
def olivia(roles):
    """An operator in the approvers group."""
    return _persona("olivia", ["approvers"], roles)


@pytest.fixture
def oscar(roles):
    """A second approver, to race olivia."""
    return _persona("oscar", ["approvers"], roles)


@pytest.fixture
def frank(roles):
    """In the finance group: may see purchase requests, may not approve them."""
    return _persona("frank", ["finance"], roles)


@pytest.fixture
def maria(roles):
    """A manager: may release and reassign others' tasks."""
    return _persona("maria", ["managers"], roles)


@pytest.fixture
def ava(roles):
    """A second requester: must never see alice's requests."""
    return _persona("ava", ["requesters"], roles)


@pytest.fixture
def alice_approves(alice, roles):
    """alice the requester is also an approver: segregation of duties must still hold for her own
    requests."""
    alice.groups.add(roles["approvers"])
    return alice


@pytest.fixture
def submit_request(alice):
    """Start a purchase request as alice; returns the process."""
    from decimal import Decimal

    from processes.purchase.services import purchase_request_start

    def submit(title: str = "Standing desk", amount: str = "640.00", **data):
        return purchase_request_start(
            requester=data.pop("requester", alice),
            data={
                "title": title,
                "amount": Decimal(amount),
                "currency": "EUR",
                "justification": "Back pain.",
                **data,
            },
        )

    return submit


@pytest.fixture
def purchase_policy(roles):
    """The demo's published purchase policy: approvers, then finance above 1,000. Returns the version."""
    from datetime import timedelta
    from decimal import Decimal

    from processes.policies.services import policy_create

    return policy_create(
        name="purchase",
        stages=[
            {"name": "Team approval", "group": roles["approvers"], "sla": timedelta(hours=4)},
            {
                "name": "Finance review",
                "group": roles["finance"],
                "amount_above": Decimal("1000.00"),
                "sla": timedelta(hours=8),
            },
        ],
    )


@pytest.fixture
def catalogue(db):
    """Products in the fake inventory: two in stock, one out of stock."""
    from decimal import Decimal

    from processes.connectors.models import Product

    return {
        sku: Product.objects.create(sku=sku, name=name, unit_price=Decimal(price), on_hand=stock)
        for sku, name, price, stock in [
            ("DESK-01", "Standing desk", "499.00", 10),
            ("CHAIR-02", "Office chair", "189.00", 10),
            ("LAMP-03", "Desk lamp", "39.90", 0),  # out of stock
        ]
    }


@pytest.fixture
def place_order(catalogue):
    """Start an order the way an external system does (the StartHandle); returns the process."""
    from processes.orders.services import order_start_api

    def place(lines=(("DESK-01", 1),), email="ada@example.com", method="card"):
        return order_start_api(
            order={
                "customer_name": "Ada Lovelace",
                "customer_email": email,
                "payment_method": method,
                "shipping_address": "1 Analytical Row, London",
                "lines": [{"sku": sku, "qty": qty} for sku, qty in lines],
            }
        )

    return place


def error_boundary_arm_legacy(job_task):
    """Make `job_task` a job activated before error boundaries were made on failure: its data
    without the mark, and its `.OnError` boundary armed as viewflow arms one (a NEW task row).
    Returns the armed boundary task."""
    from viewflow.workflow.flow.nodes import ErrorBoundary

    from processes.nodes.boundaries import ARMED_ON_FAILURE

    job_task.data.pop(ARMED_ON_FAILURE)
    job_task.save(update_fields=["data"])
    (boundary,) = job_task.flow_task._boundary_events
    ErrorBoundary._arm(boundary, job_task.flow_task.activation_class(job_task))
    return job_task.leading.get(flow_task=boundary)


def log_events(caplog, name: str) -> list[dict]:
    """The structlog events called `name` that `caplog` caught, as dicts."""
    found = []
    for record in caplog.records:
        payload = record.msg if isinstance(record.msg, dict) else None
        if payload is None:
            try:
                payload = json.loads(record.getMessage())
            except ValueError:
                continue
        if payload.get("event") == name:
            found.append(payload)
    return found


def task_of(process, node_name: str):
    """The newest task of `process` at the node called `node_name`."""
    from viewflow.workflow.models import Task

    return Task.objects.filter(process=process, flow_task=getattr(process.flow_class, node_name)).latest("pk")


def page_queries(client, path: str) -> list[str]:
    """The SQL of one GET of `path`, less the session read (which the Redis-backed cached
    sessions of the service-backed runs answer from the cache)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return [query["sql"] for query in captured if '"django_session"' not in query["sql"]]


def fraud_review_of(order):
    """Run an order's automated steps through the worker's entry point up to its fraud review
    (the order must look suspicious); returns the review task."""
    from viewflow.workflow.models import Task
    from viewflow.workflow.status import STATUS

    from processes.nodes.celery_job import job_execute

    for _ in range(10):
        job = Task.objects.filter(process=order, flow_task_type="JOB", status=STATUS.SCHEDULED).first()
        if job is None:
            break
        job_execute(job.flow_task.activation_class(job).ref())
    return task_of(order, "review_fraud")
