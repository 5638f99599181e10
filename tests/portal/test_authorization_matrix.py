"""The authorization matrix (design.md 4.9, ADR 0011): every route, every role, one table.

Every URL pattern the resolver knows (the portal's, viewflow's generated ones, the admin's) must
have a row in `authorization_matrix.csv`, and every row must name a route that exists. Each row
says which scene parameters fill the route's URL and what each role gets for a GET (and, for rows
with method POST, what a POST gets: refusals only, `-` where the role may act). The expectations
are the secure ones; a mismatch is a finding, never something to copy into the table.

The scene is the demo data (processes/management/commands/demo_data.py) plus a second requester,
an attachment, a notification per user and an email action link, built once in the test's
transaction. Every request runs in a savepoint that is rolled back, so no request changes what
the next one sees.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin, messages
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, converters, get_resolver

from processes.messages.services import message_receive
from processes.scheduler import timers_fire

TABLE = Path(__file__).with_name("authorization_matrix.csv")
ROLES = ("anonymous", "requester", "other_requester", "approver", "finance", "manager", "admin")
USERNAMES = {
    "anonymous": None,
    "requester": "alice",
    "other_requester": "ava",
    "approver": "olivia",
    "finance": "frank",
    "manager": "maria",
    "admin": "admin",
}
COLUMNS = ("method", "route", "pattern", "params", *ROLES)
SKIP = "-"
KNOWN_CONVERTERS = (
    converters.IntConverter,
    converters.StringConverter,
    converters.SlugConverter,
    converters.PathConverter,
)
_EXPECTED = re.compile(r"^(?P<status>[1-5]\d\d!?)(?::(?P<location>/\S*))?$")


# ---------------------------------------------------------------- the routes


@dataclass(frozen=True)
class Route:
    name: str  # namespace:name, or "" for an unnamed pattern
    pattern: str  # the full pattern, as the resolver joins it
    converters: dict[str, Any]  # parameter -> converter (a regex group: None)
    callback: Any = field(default=None, compare=False)


def _walk(resolver: URLResolver, prefix: str = "", namespaces: tuple[str, ...] = ()):
    for entry in resolver.url_patterns:
        converters = getattr(entry.pattern, "converters", {})
        if isinstance(entry, URLResolver):
            spaces = (*namespaces, entry.namespace) if entry.namespace else namespaces
            for route in _walk(entry, prefix + str(entry.pattern), spaces):
                yield Route(route.name, route.pattern, {**converters, **route.converters}, route.callback)
        elif isinstance(entry, URLPattern):
            regex_groups = {name: None for name in entry.pattern.regex.groupindex}
            name = ":".join((*namespaces, entry.name)) if entry.name else ""
            yield Route(name, prefix + str(entry.pattern), {**regex_groups, **converters}, entry.callback)
        else:  # pragma: no cover - nothing else is routable
            raise TypeError(f"unknown URL entry {entry!r}")


def resolver_routes() -> dict[tuple[str, str], Route]:
    routes = {}
    for route in _walk(get_resolver()):
        key = (route.name, route.pattern)
        assert key not in routes, f"two routes named {key}"
        routes[key] = route
    return routes


def route_url(route: Route, params: dict[str, Any]) -> str:
    """The route's pattern with `params` filled in; an unknown parameter or a missing one fails."""
    assert set(route.converters) == set(params), (
        f"{route.name or route.pattern}: parameters {sorted(route.converters)}, "
        f"the scene gave {sorted(params)}"
    )
    unknown = {
        name: converter
        for name, converter in route.converters.items()
        if converter is not None and type(converter) not in KNOWN_CONVERTERS
    }
    assert not unknown, f"{route.pattern}: converters this test does not know how to fill: {unknown}"
    url = route.pattern
    if "(?P<" in url or "^" in url:  # a regex pattern: fill its groups, drop its anchors
        url = re.sub(r"\(\?P<(?P<name>\w+)>[^)]*\)", lambda m: str(params[m.group("name")]), url)
        url = url.replace("^", "").replace("$", "")

    def fill(match: re.Match) -> str:
        name = match.group("name")
        return str(route.converters[name].to_url(params[name]))

    url = re.sub(r"<(?:\w+:)?(?P<name>\w+)>", fill, url)
    assert not re.search(r"[<>()?^$\\\[\]*]", url), f"cannot fill {route.pattern!r}: got {url!r}"
    return "/" + url


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Row:
    line: int
    method: str
    route: str
    pattern: str
    params: str
    expected: dict[str, str]

    @property
    def key(self) -> tuple[str, str]:
        return (self.route, self.pattern)


def table_rows(path: Path = TABLE) -> list[Row]:
    """The table: CSV, `#` comments, cells padded with spaces for reading."""
    lines = [
        (number, line)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    reader = csv.reader(StringIO("\n".join(line for _, line in lines)))
    header = [cell.strip() for cell in next(reader)]
    assert tuple(header) == COLUMNS, f"{path.name}: columns must be {COLUMNS}, not {header}"
    rows, seen = [], set()
    for (number, _), cells in zip(lines[1:], reader, strict=True):
        cells = [cell.strip() for cell in cells]
        assert len(cells) == len(COLUMNS), f"{path.name}:{number}: {len(cells)} cells"
        values = dict(zip(COLUMNS, cells, strict=True))
        row = Row(
            line=number,
            method=values["method"],
            route=values["route"],
            pattern=values["pattern"],
            params=values["params"],
            expected={role: values[role] for role in ROLES},
        )
        assert row.method in ("GET", "POST"), f"{path.name}:{number}: method {row.method!r}"
        for role, cell in row.expected.items():
            assert cell == SKIP or _EXPECTED.match(cell), f"{path.name}:{number}: {role} {cell!r}"
        identity = (row.method, row.route, row.pattern, row.params)
        assert identity not in seen, f"{path.name}:{number}: a second row for {identity}"
        seen.add(identity)
        rows.append(row)
    return rows


def outcome(response) -> str:
    """A response as the table writes it: the status, and for a redirect its target's path. A
    redirect that carries an error or warning message (the portal's task actions answer a refusal
    so) is written `302!`: it never matches a plain `302`."""
    if response.status_code in (301, 302, 303, 307, 308):
        queued = getattr(getattr(response.wsgi_request, "_messages", None), "_queued_messages", [])
        refused = "!" if any(message.level >= messages.WARNING for message in queued) else ""
        return f"{response.status_code}{refused}:{response['Location']}"
    return str(response.status_code)


def matches(expected: str, got: str) -> bool:
    """`302` matches any redirect with that status, `302:/accounts/login/` any target starting so."""
    match = _EXPECTED.match(expected)
    status, _, location = got.partition(":")
    if match["status"] != status:
        return False
    return match["location"] is None or location.startswith(match["location"])


# ---------------------------------------------------------------- the scene


def build_scene() -> dict[str, Any]:
    """The demo data and what it lacks, and the parameters by the names the table uses."""
    from django.contrib.auth import get_user_model
    from viewflow.workflow.models import Task
    from viewflow.workflow.status import STATUS

    from processes.actionlinks.services import action_tokens_issue, action_tokens_mint
    from processes.api.services import api_client_create
    from processes.attachments.checks import uploads_check
    from processes.attachments.services import attachments_add
    from processes.catalog.models import CatalogRequest
    from processes.mail.services import mail_queue
    from processes.nodes.celery_job import job_execute
    from processes.notifications.services import notifications_record
    from processes.orders.models import OrderProcess
    from processes.purchase.models import PurchaseProcess
    from processes.roles import roles_sync
    from tests.conftest import _persona, task_of
    from tests.processes.attachments.conftest import upload

    call_command("demo_data", stdout=StringIO())
    users = {user.username: user for user in get_user_model().objects.all()}
    users["ava"] = _persona("ava", ["requesters"], roles_sync())

    def request(title: str):
        return PurchaseProcess.objects.get(title=title, requester=users["alice"])

    queued = request("Standing desk for the design team")  # approve task NEW, approvers' queue
    held = request("Conference tickets: DjangoCon Europe")  # approve task ASSIGNED to olivia
    done = request("Replacement laptop battery")  # approved, done
    rejected = request("Espresso machine for the office")  # revise task held by alice
    at_finance = request("Team offsite venue deposit")  # approved by the team, finance's queue
    fraud = OrderProcess.objects.get(customer_email="mallory@mailinator.com")
    failed = OrderProcess.objects.get(customer_email="alan@example.com")

    def task(process, node: str, status: str):
        found = task_of(process, node)
        assert found.status == status, f"{process}: {node} is {found.status}, not {status}"
        return found

    approve_queued = task(queued, "approve", STATUS.NEW)
    approve_held = task(held, "approve", STATUS.ASSIGNED)
    assert approve_held.owner == users["olivia"]
    approve_done = task(done, "approve", STATUS.DONE)
    approve_finance = task(at_finance, "approve", STATUS.NEW)
    revise_held = task(rejected, "revise", STATUS.ASSIGNED)
    assert revise_held.owner == users["alice"]
    review_fraud = task(fraud, "review_fraud", STATUS.NEW)
    incident = Task.objects.filter(process=failed, status=STATUS.ERROR).get()
    catalog_hr = CatalogRequest.objects.get(values__reason="Summer trip", requester=users["alice"])
    catalog_approve_hr = task(catalog_hr, "approve", STATUS.NEW)  # the HR stage's queue

    # Login throttling's records (django-axes), so its admin pages have an object to show.
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    seen = {"user_agent": "matrix", "ip_address": "192.0.2.1", "username": "olivia", "http_accept": "*/*"}
    AccessAttempt.objects.create(
        **seen, path_info="/accounts/login/", get_data="", post_data="", failures_since_start=1
    )
    AccessLog.objects.create(**seen, path_info="/accounts/login/")
    AccessFailureLog.objects.create(**seen, path_info="/accounts/login/")

    api_client_create(name="fake shop", scopes=["processes:read"])  # tokens: tests/processes/api/
    # A message kept for an order nobody waits for, and a demo order whose delivery callback never
    # came: its timeout fired, so a person chases the carrier.
    message_receive(
        client=None,
        message_id="matrix-1",
        name="shipment.delivered",
        correlation_key="ORD-999999",
        payload={},
    )
    waiting = Task.objects.filter(flow_task_type="WAIT", status=STATUS.SCHEDULED).order_by("pk").first()
    timers_fire(
        task_ids=list(
            Task.objects.filter(previous=waiting, flow_task_type="TIMER").values_list("pk", flat=True)
        )
    )
    chase = Task.objects.get(process_id=waiting.process_id, flow_task_type="HUMAN", status=STATUS.NEW)
    webhooks_scene()  # a subscription and a delivery, for the admin rows

    (attachment,) = attachments_add(
        process=queued, uploads=uploads_check([upload("quote.pdf")]), user=users["alice"]
    )
    notes = {}
    for name, user in users.items():
        (notes[name],) = notifications_record(
            user_ids=[user.pk],
            kind="task.assigned",
            title=f"For {name}",
            url=f"/purchase/{queued.pk}/",
            process=queued,
        )
    token = action_tokens_issue(task=approve_queued, addressee=users["olivia"])["approve"]
    link = action_tokens_mint(tokens=[token])[token.pk]  # the secret, as the mail sender mints it
    mail_queue(
        kind="reminder", to_user=users["olivia"], subject="A task waits", text="…", task=approve_queued
    )
    for job in Task.objects.filter(process=done, flow_task_type="JOB", status=STATUS.SCHEDULED):
        job_execute(job.flow_task.activation_class(job).ref())  # its purchase order, as the worker would

    def task_params(found):
        return {"process_pk": found.process_id, "task_pk": found.pk}

    # Saved filters: otto's, shared with the approvers (olivia: read-only), and each user's own.
    from django.contrib.auth.models import Group

    from processes.tasklist.saved_services import saved_filter_create

    otto = _persona("otto", ["approvers"], roles_sync())
    shared_filter = saved_filter_create(
        owner=otto,
        name="Matrix",
        page="queue",
        query="sort=age",
        shared_with=Group.objects.get(name="approvers"),
    )
    own_filters = {
        name: saved_filter_create(owner=user, name="Matrix", page="inbox", query="sort=age")
        for name, user in users.items()
    }

    # Out-of-office: oscar's coming absence (olivia stands in), for the admin and the cancel rows.
    from datetime import timedelta

    from django.utils import timezone

    from processes.absences.services import absence_set

    soon = timezone.now() + timedelta(days=30)
    oscar = users["oscar"]  # a demo approver, olivia's colleague
    oscar_away = absence_set(
        actor=oscar, user=oscar, substitute=users["olivia"], starts_at=soon, ends_at=soon + timedelta(days=5)
    )

    params: dict[str, Any] = {
        "none": {},
        "absence_invalid": {"_data": {"starts_at": "", "ends_at": "", "substitute": ""}},
        "user_olivia": {"user_id": users["olivia"].pk},
        "user_olivia_invalid": {"user_id": users["olivia"].pk, "_data": {"starts_at": "", "substitute": ""}},
        "absence_oscar": {"absence_id": oscar_away.pk},
        "approve_queued": task_params(approve_queued),
        "approve_held": task_params(approve_held),
        "approve_done": task_params(approve_done),
        "approve_finance": task_params(approve_finance),
        "revise_held": task_params(revise_held),
        "review_fraud": task_params(review_fraud),
        "chase_carrier": task_params(chase),
        # a task at another step's URL: the revise task under the approve node (gate check 1)
        "revise_as_approve": task_params(revise_held),
        "task_queued": {"task_pk": approve_queued.pk},
        "bulk_queued": {"_data": {"task": [approve_queued.pk]}},
        "task_held": {"task_pk": approve_held.pk},
        "task_revise": {"task_pk": revise_held.pk},
        "type_vacation": {"slug": "vacation-request"},
        "catalog_hr": {"process_pk": catalog_hr.pk},
        "catalog_approve_hr": task_params(catalog_approve_hr),
        "process_queued": {"process_pk": queued.pk},
        "process_held": {"process_pk": held.pk},
        "process_finance": {"process_pk": at_finance.pk},
        "api_process_queued": {"process_id": queued.pk},
        "api_catalog_hr": {"process_id": catalog_hr.pk},
        "api_process_unknown": {"process_id": 999999},
        "api_unknown": {"rest": "v1/nope"},
        "api_task_queued": {"task_id": approve_queued.pk},
        "api_task_held": {"task_id": approve_held.pk},
        "order_fraud": {"process_pk": fraud.pk},
        "incident": {"task_pk": incident.pk},
        "attachment": {"attachment_id": attachment.pk},
        "notification_alice": {"notification_id": notes["alice"].pk},
        "notification_own": lambda role: {
            "notification_id": notes[USERNAMES[role] or "alice"].pk,
        },
        "token_unknown": {"token": "no-such-token-0123456789abcdefghijklmnopqrstu"},
        "token_olivia": {"token": link},
        "reset_bogus": {"uidb64": "MQ", "token": "bogus-token"},
        "user_alice": {"id": users["alice"].pk},
        "app_processes": {"app_label": "processes"},
        "admin_unknown": {"url": "no/such/page/"},
        "saved_filter_invalid": {"_data": {"name": "", "page": "queue", "query": "sort=age"}},
        "saved_filter_shared": {"filter_pk": shared_filter.pk, "_data": {"pinned": "1", "name": "Matrix"}},
        "saved_filter_own": lambda role: {
            "filter_pk": own_filters[USERNAMES[role] or "alice"].pk,
            "_data": {"pinned": "1", "name": "Matrix"},
        },
        "view_on_site_process": {
            "content_type_id": ContentType.objects.get_for_model(PurchaseProcess).pk,
            "object_id": queued.pk,
        },
    }
    # The admin's change pages: `obj:<app_label>.<model>`, that model's first object.
    empty = []
    for model in admin.site._registry:
        obj = model._default_manager.order_by("pk").first()
        if obj is None:
            empty.append(model._meta.label)
        else:
            params[f"obj:{model._meta.label_lower}"] = {"object_id": obj.pk}
    params["obj:processes.incident"] = {"object_id": incident.pk}  # the admin lists failed steps only
    assert not empty, f"the scene has no {empty}: the admin rows need one of each"
    return {"users": users, "params": params}


def webhooks_scene() -> None:
    from processes.api.keys import signing_key_rotate
    from processes.api.services import api_client_create
    from processes.webhooks.services import webhook_emit, webhook_endpoint_create

    hooks, _ = api_client_create(name="hooks", scopes=["webhooks:receive"])
    signing_key_rotate(client=hooks)
    webhook_endpoint_create(client=hooks, url="http://127.0.0.1:9/hooks", events=["process.started"])
    webhook_emit(event_type="process.started", data={"process_id": 0})


def row_params(scene: dict[str, Any], row: Row, role: str) -> dict[str, Any]:
    assert row.params in scene["params"], f"line {row.line}: the scene has no parameters {row.params!r}"
    params = scene["params"][row.params]
    return params(role) if callable(params) else params


def clients(users: dict[str, Any]) -> dict[str, Client]:
    by_role = {}
    for role, username in USERNAMES.items():
        client = Client(raise_request_exception=False)  # a crash is a 500 in the report, not the end
        if username is not None:
            client.force_login(users[username])
        by_role[role] = client
    return by_role


def request_once(client: Client, method: str, url: str, data: dict | None = None):
    """One request in a savepoint that is rolled back: it changes nothing the next one sees."""
    with transaction.atomic():
        response = client.get(url) if method == "GET" else client.post(url, data or {})
        transaction.set_rollback(True)
    return response


# ---------------------------------------------------------------- the tests


def test_every_route_has_a_row():
    routes = resolver_routes()
    covered = {row.key for row in table_rows() if row.method == "GET"}
    missing = [
        f"{name or '(unnamed)'}  {pattern}" for name, pattern in routes if (name, pattern) not in covered
    ]
    assert not missing, "routes without a GET row in authorization_matrix.csv:\n" + "\n".join(missing)


def test_every_row_names_a_route_that_exists():
    routes = resolver_routes()
    stale = [f"line {row.line}: {row.route}  {row.pattern}" for row in table_rows() if row.key not in routes]
    assert not stale, "rows for routes the resolver does not have:\n" + "\n".join(stale)


def test_a_made_up_route_is_caught_by_the_table_check(tmp_path):
    table = tmp_path / "table.csv"
    table.write_text(
        ",".join(COLUMNS) + "\n" + "GET,nowhere:gone,gone/,none," + ",".join(["404"] * len(ROLES)) + "\n"
    )
    routes = resolver_routes()
    assert [row.key for row in table_rows(table) if row.key not in routes] == [("nowhere:gone", "gone/")]


def test_every_task_page_of_a_flow_goes_through_the_gate():
    """A page that names a process and a task is viewflow's task view behind the gate
    (processes/flowapp.py marks each with the gate action it asks for)."""
    task_pages = [
        route for route in resolver_routes().values() if {"process_pk", "task_pk"} <= set(route.converters)
    ]
    assert task_pages
    ungated = [route.name for route in task_pages if not hasattr(route.callback, "gate_action")]
    assert not ungated, f"task pages outside the gate: {ungated}"


@pytest.mark.django_db
def test_each_role_gets_what_the_table_says(settings, tmp_path):
    # servestatic only answers /static/, and is async-only: without it the test client does not
    # hop threads on each of some 1,700 requests (7 ms a request instead of 45).
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if not name.startswith("servestatic.")]
    settings.ATTACHMENTS_ROOT = tmp_path / "attachments"
    settings.ACTION_LINK_RATE_LIMIT_PER_IP = 100_000
    settings.ACTION_LINK_RATE_LIMIT_PER_TOKEN = 100_000
    routes = resolver_routes()
    scene = build_scene()
    by_role = clients(scene["users"])
    mismatches = []
    for row in table_rows():
        route = routes[row.key]
        for role in ROLES:
            expected = row.expected[role]
            if expected == SKIP:
                continue
            params = dict(row_params(scene, row, role))
            data = params.pop("_data", None)  # a POST's body, not the URL's
            url = route_url(route, params)
            got = outcome(request_once(by_role[role], row.method, url, data))
            if not matches(expected, got):
                mismatches.append(
                    f"{row.method} {url} [{row.route or row.pattern}] {role}: expected {expected}, got {got}"
                )
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches)
