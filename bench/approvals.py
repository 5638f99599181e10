"""Benchmark: end-to-end approvals per second through HTTP, against plain viewflow in-process.

    make bench NAME=approvals [ARGS="--quick | --rounds R --pairs P"]

The portal as `make run` serves it (uvicorn on portal.asgi, here with --workers N), on
PostgreSQL and Redis. C concurrent clients each play a requester, an approver and a finance
approver (real sessions, real CSRF checks) and repeat: submit a request through the start form
(every other one above 1,000, so the demo policy adds the finance stage), claim the approval
task, approve it, and for the large ones claim and approve the finance task. Each client finds
its new task's id with one indexed query, standing in for a click in the queue (the task list
pages have their own benchmark, `tasklist`), and claims it through the portal's own claim endpoint
(the task list's Claim button, POST /tasks/<task>/claim/). An approval is one decision POST that
returned 302; approvals/s = approvals / wall time of the timed segments, each from its first
submit until every process it started has finished: a real Celery worker runs, so the purchase
order job that ends a request is part of the figure.

Baseline, in the same run: plain viewflow (bench/baseline_flow.py: start, approve, finance above
1,000, end; select_for_update lock; no audit, notifications or policy) driven through its
activations in-process by as many processes as the server has workers, the same steps in the
same transactions (start; claim; execute). A second figure, also in the same run: the same plain
flow through HTTP, viewflow's own start, assign and execute views behind Django's default
middleware on the same uvicorn (bench/settings_http_baseline.py), driven by the same clients as
ordinary users who hold the flow's permissions through a group (viewflow reads them, as the
portal reads its roles), with the same worker running (the plain flow has no job to give it).
`ratio_to_viewflow_http` is the portal's approvals/s over this one's (issue 16 wants 0.6).

A third figure in the same run: the same requests as an admin-defined process catalog type (the
same form fields and the same two stages, the finance one by the condition `amount > 1000`), run by
the catalog's generic flow through its own start page; its baseline is the code-defined purchase
request's figure (issue 13 wants it within 20 % of it).

A fourth figure: the portal's run again with traces on (ADR 0019: OTEL_EXPORTER_OTLP_ENDPOINT
set, every instrumentation on, spans batched over OTLP/HTTP to a local sink that counts and drops
them, bench/common.py OtlpSink); its baseline is the same run with traces off.

Each comparison through HTTP runs in pairs of short segments, the two servers up side by side
and timed one right after the other (the first going first, then the second: `alternate`), with
the same request numbers in both halves of a pair; each segment ends once the worker is idle
again. This machine's speed drifts by a third within minutes, so two long runs minutes apart
compared two machines; a ratio is now the median of its pairs' ratios, and every pair is printed
(`pairs=`). Two servers are up at a time (the portal's and the one it is compared with), each
with its connection pool.

Every comparison, and the in-process baseline, starts from a settled database (bench/common.py
`database_settle`: VACUUM ANALYZE and CHECKPOINT), so that the first does not pay for the
autovacuum passes and full-page writes the freshly filled database owes. Not each pair: after a
CHECKPOINT the first change to each page writes its full image, so the half of a pair that ran
first paid for it, and the pairs spread twice as wide (docs/benchmarks.md, twelfth session). For
the same reason each side runs one untimed segment after the settle, before the first pair
(`warm`): before, the side that went first in the first pair paid for the full-page writes of
every page both sides then changed (docs/benchmarks.md, thirteenth session).

Also printed: queries per HTTP step (measured once in-process with Django's test client), and
the server's and the worker's CPU time per approval. Needs PostgreSQL and Redis on loopback; its
database (BENCH_APPROVALS_DATABASE_URL) is recreated on each run and its Redis db flushed.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import platform
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    OtlpSink,
    database_recreate,
    database_settle,
    free_port,
    process_tree_cpu_seconds,
    server_env,
    worker_idle,
    worker_start,
)

DATABASE_URL = os.environ.get(
    "BENCH_APPROVALS_DATABASE_URL", "postgres://root@127.0.0.1:5432/portal_bench_approvals"
)
REDIS_URL = os.environ.get("BENCH_APPROVALS_REDIS_URL", "redis://127.0.0.1:6379/8")
ENV = server_env(DATABASE_URL, REDIS_URL, ROOT / "var" / "bench-approvals")
# The server's psycopg pool per worker process: a pooled connection per concurrent request instead
# of a new one per request (see docs/benchmarks.md). The bench process itself keeps one plain
# connection per client thread.
SERVER_POOL = os.environ.get("BENCH_DATABASE_POOL_MAX_SIZE", "16")
os.environ.update(ENV)
os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"

CSRF = secrets.token_hex(16)  # a 32-character CSRF secret, sent as cookie and form field alike
SMALL, LARGE = "640.00", "5000.00"


def prepare_database() -> None:
    database_recreate(DATABASE_URL, REDIS_URL)


def create_people(clients: int) -> list[dict]:
    """Groups, the demo policy (approvers, then finance above 1,000), and per client a requester,
    an approver and a finance approver, each with a logged-in session."""
    import datetime
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    from processes.policies.services import policy_create
    from processes.roles import roles_sync

    groups = roles_sync()
    policy_create(
        name="purchase",
        stages=[
            {"name": "Team approval", "group": groups["approvers"], "sla": datetime.timedelta(hours=4)},
            {
                "name": "Finance review",
                "group": groups["finance"],
                "amount_above": Decimal("1000.00"),
                "sla": datetime.timedelta(hours=8),
            },
        ],
    )
    _catalog_type_create(groups)
    user_model = get_user_model()
    people = []
    for index in range(clients):
        roles = {}
        for role, group in (("requester", "requesters"), ("approver", "approvers"), ("finance", "finance")):
            user = user_model.objects.create(username=f"{role}{index:03d}")
            user.groups.add(groups[group])
            roles[role] = {"user": user, "session": _session_of(user)}
        people.append(roles)
    return people


CATALOG_SLUG = "bench-purchase"


def _catalog_type_create(groups: dict) -> None:
    """The same purchase request defined as data in the process catalog (issue 13): its form
    (title, amount in EUR, justification) and chain (approvers, then finance when the amount is
    above 1,000), so one run compares the generic flow with the code-defined one."""
    import datetime

    from processes.catalog.models import FieldKind
    from processes.catalog.services import process_type_create, type_version_fill

    process_type = process_type_create(
        name="Bench purchase", slug=CATALOG_SLUG, starter_groups=[groups["requesters"]]
    )
    type_version_fill(
        version=process_type.policy.versions.get(),
        fields=[
            {"name": "title", "label": "Title", "kind": FieldKind.TEXT},
            {"name": "amount", "label": "Amount", "kind": FieldKind.MONEY, "currency": "EUR"},
            {"name": "justification", "label": "Justification", "kind": FieldKind.LONG_TEXT},
        ],
        stages=[
            {"name": "Team approval", "group": groups["approvers"], "sla": datetime.timedelta(hours=4)},
            {
                "name": "Finance review",
                "group": groups["finance"],
                "condition": "amount > 1000",
                "sla": datetime.timedelta(hours=8),
            },
        ],
        publish=True,
    )


def create_baseline_people(clients: int) -> list[dict]:
    """Per client a requester, an approver and a finance approver for the plain flow through
    HTTP: ordinary users in a group that holds the flow's permissions (bench/baseline_flow.py),
    so viewflow reads permission rows for them as the portal does for its roles."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission

    group = Group.objects.create(name="plain-flow")
    group.permissions.set(
        Permission.objects.filter(
            content_type__app_label="viewflow", codename__in=["view_process", "add_process", "change_process"]
        )
    )
    people = []
    for index in range(clients):
        person = {}
        for role in ("requester", "approver", "finance"):
            user = get_user_model().objects.create(username=f"plain-{role}{index:03d}")
            user.groups.add(group)
            person[role] = {"session": _session_of(user)}
        people.append(person)
    return people


def _session_of(user) -> str:
    """A logged-in session of `user` in the database, as the login view would leave it."""
    import datetime

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.set_expiry(timezone.now() + datetime.timedelta(days=1))
    store.save()
    return store.session_key


def open_task_pk(process_pk: int) -> int:
    """The process's one open human task (the click in the queue), for the portal's flow and the
    baseline's alike."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM viewflow_task WHERE process_id = %s AND status = 'NEW' AND flow_task_type = 'HUMAN'",
            [process_pk],
        )
        (task,) = cursor.fetchone()
    return task


@dataclass(frozen=True)
class Target:
    """What the clients drive: the portal's purchase flow, or plain viewflow's baseline flow."""

    start: str
    nodes: tuple[str, str]  # the node of the first and of the second (finance) approval
    prefix: str  # the flow's URL prefix: /<prefix>/<process>/<node>/<task>/assign/
    start_form: Callable[[int, str], dict]  # (request number, amount) -> the start form's fields
    decision: dict = field(default_factory=dict)  # the approve form's fields
    claim_prefix: str = ""  # the portal's claim endpoint: <claim_prefix><task>/claim/

    def assign(self, process: int, node: str, task: int) -> str:
        """Where a person claims the task: the portal's own claim endpoint (the task list's Claim
        button), or viewflow's assign view for the plain flow."""
        if self.claim_prefix:
            return f"{self.claim_prefix}{task}/claim/"
        return f"{self.prefix}{process}/{node}/{task}/assign/"

    def execute(self, process: int, node: str, task: int) -> str:
        return f"{self.prefix}{process}/{node}/{task}/execute/"


def portal_target() -> Target:
    from django.urls import get_resolver

    from processes.purchase.flows import PurchaseFlow

    assert get_resolver().url_patterns
    start = PurchaseFlow.start.reverse("execute")
    assign = PurchaseFlow.approve.reverse("assign", args=[1, 2])
    assert assign.endswith("1/approve/2/assign/"), assign
    return Target(
        start=start,
        nodes=("approve", "approve"),
        prefix=assign[: -len("1/approve/2/assign/")],
        start_form=_request_form,
        decision={"decision": "approve", "comment": ""},
        claim_prefix=_claim_prefix(),
    )


def _claim_prefix() -> str:
    from django.urls import reverse

    claim = reverse("tasks:claim", args=[1])
    assert claim.endswith("/1/claim/"), claim
    return claim[: -len("1/claim/")]


def catalog_target() -> Target:
    """The same requests through the process catalog's generic flow (an admin-defined type)."""
    from processes.catalog.flows import CatalogFlow

    return Target(
        start=CatalogFlow.instance.reverse("type_start", args=[CATALOG_SLUG]),
        nodes=("approve", "approve"),
        prefix=CatalogFlow.instance.reverse("index"),
        start_form=lambda number, amount: {
            "title": f"Bench request {number}",
            "amount": amount,
            "justification": "Benchmark.",
        },
        decision={"decision": "approve", "comment": ""},
        claim_prefix=_claim_prefix(),
    )


# The baseline flow's URLs under bench/urls_baseline.py.
BASELINE = Target(
    start="/baselineapproval/start_form/",
    nodes=("approve", "finance"),
    prefix="/baselineapproval/",
    start_form=lambda number, amount: {"amount": amount.split(".")[0]},
)


def queries_per_step(person: dict) -> dict[str, int]:
    """Queries of each HTTP step, measured once in-process with Django's test client."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    target = portal_target()
    counts = {}
    requester, approver = Client(), Client()
    requester.force_login(person["requester"]["user"])
    approver.force_login(person["approver"]["user"])
    with CaptureQueriesContext(connection) as captured:
        response = requester.post(target.start, target.start_form(0, SMALL))
    assert response.status_code == 302, response.status_code
    counts["submit"] = len(captured)
    process = int(response["Location"].rstrip("/").rsplit("/", 1)[1])
    task = open_task_pk(process)
    with CaptureQueriesContext(connection) as captured:
        assert approver.post(target.assign(process, "approve", task)).status_code == 302
    counts["claim"] = len(captured)
    with CaptureQueriesContext(connection) as captured:
        response = approver.post(target.execute(process, "approve", task), target.decision)
    assert response.status_code == 302, response.status_code
    counts["approve"] = len(captured)
    return counts


def _request_form(number: int, amount: str) -> dict:
    return {
        "title": f"Bench request {number}",
        "amount": amount,
        "currency": "EUR",
        "justification": "Benchmark.",
    }


class Server:
    """uvicorn on portal.asgi, as `make run` starts it, with N worker processes (or, for the
    baseline through HTTP, on plain Django with the baseline's settings)."""

    def __init__(
        self,
        port: int,
        workers: int,
        log: Path,
        app: str = "portal.asgi:application",
        settings: str = "",
        ready: tuple[str, int] = ("/healthz", 200),
        env: dict[str, str] | None = None,
    ) -> None:
        self.ready = ready  # a path and the status it answers once the server is up
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                app,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--lifespan",
                "off",
                "--no-access-log",
                "--backlog",
                "4096",
                "--timeout-graceful-shutdown",
                "3",
                "--timeout-keep-alive",
                "120",
            ],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_POOL_MAX_SIZE": SERVER_POOL,
                "DJANGO_SETTINGS_MODULE": settings or os.environ["DJANGO_SETTINGS_MODULE"],
                **(env or {}),
            },
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.port = port

    def wait(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bench: server exited, see {self.log.name}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                path, status = self.ready
                conn.request("GET", path)
                if conn.getresponse().status == status:
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("bench: server did not start")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server's processes (the supervisor and its workers)."""
        return process_tree_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        os.killpg(self.process.pid, 15)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()
        self.log.close()


class HttpClient:
    """One person's browser: a keep-alive connection with their session and the CSRF cookie."""

    def __init__(self, port: int, session: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {
            "Cookie": f"sessionid={session}; csrftoken={CSRF}",
            "Content-Type": "application/x-www-form-urlencoded",
        }

    def post(self, path: str, data: dict | None = None) -> str:
        body = urlencode({**(data or {}), "csrfmiddlewaretoken": CSRF})
        self.conn.request("POST", path, body=body, headers=self.headers)
        response = self.conn.getresponse()
        response.read()
        if response.status != 302:
            raise RuntimeError(f"POST {path} answered {response.status}")
        return response.getheader("Location", "")


def run_client(
    port: int,
    target: Target,
    person: dict,
    rounds: int,
    offset: int,
    results: list,
    errors: list,
    started: list,
) -> None:
    from django.db import connection

    requester = HttpClient(port, person["requester"]["session"])
    deciders = [
        (HttpClient(port, person["approver"]["session"]), target.nodes[0]),
        (HttpClient(port, person["finance"]["session"]), target.nodes[1]),
    ]
    approvals = 0
    try:
        for number in range(offset, offset + rounds):
            location = requester.post(target.start, target.start_form(number, LARGE if number % 2 else SMALL))
            process = int(location.rstrip("/").rsplit("/", 1)[1])
            started.append(process)
            for decider, node in deciders[: 2 if number % 2 else 1]:
                task = open_task_pk(process)
                decider.post(target.assign(process, node, task))
                decider.post(target.execute(process, node, task), target.decision)
                approvals += 1
    except Exception as exc:  # reported after the run; a failed client must not hang the others
        errors.append(repr(exc))
    finally:
        connection.close()
    results.append(approvals)


def http_run(port: int, target: Target, people: list[dict], rounds: int, offset: int) -> tuple[int, float]:
    results: list[int] = []
    errors: list[str] = []
    processes: list[int] = []
    threads = [
        threading.Thread(
            target=run_client, args=(port, target, person, rounds, offset, results, errors, processes)
        )
        for person in people
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"bench: {len(errors)} clients failed, first: {errors[0]}")
    _all_finished(processes)  # the jobs that end the requests, on the worker
    elapsed = time.perf_counter() - started
    return sum(results), elapsed


def _all_finished(processes: list[int], timeout: float = 300) -> None:
    """Wait until every process of the run has finished (the worker ran its last jobs)."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT count(*) FROM viewflow_process WHERE id = ANY(%s) AND status <> 'DONE'", [processes]
            )
            (left,) = cursor.fetchone()
            if not left:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: {left} processes did not finish (is the worker running?)")
            time.sleep(0.05)


# ---------------------------------------------------------------- baseline: plain viewflow


def _baseline_worker(args: tuple[int, int, int]) -> int:
    """One baseline process: `count` requests through the plain flow, as the HTTP clients do."""
    index, count, go_at = args
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings_baseline"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from viewflow.workflow.activation import Activation
    from viewflow.workflow.status import STATUS

    from bench.baseline_flow import BaselineApprovalFlow as Flow

    Activation.__dict__["status"]._on_success = None  # plain viewflow: no audit, no notifications
    from django.db.models.signals import post_save
    from viewflow.workflow.models import Task

    post_save.disconnect(sender=Task, dispatch_uid="processes.tasklist.task_row")  # nor task-list rows
    user = get_user_model().objects.get_or_create(username=f"baseline{index}")[0]

    class Request:
        pass

    request = Request()
    request.user = user
    while time.time() < go_at:
        time.sleep(0.01)
    approvals = 0
    for number in range(count):
        with transaction.atomic():
            process = Flow.start.run(amount=5000 if number % 2 else 640)
        for node in (Flow.approve, Flow.finance)[: 2 if number % 2 else 1]:
            task = process.task_set.get(flow_task=node, status=STATUS.NEW)
            with transaction.atomic(), task.activation() as activation:
                activation.assign(user)
            with transaction.atomic(), task.activation() as activation:
                activation.start(request)
                activation.execute()
            approvals += 1
    return approvals


def baseline_run(processes: int, per_process: int) -> tuple[int, float]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        go_at = time.time() + 8  # after every process has set Django up
        result = pool.map_async(_baseline_worker, [(i, per_process, go_at) for i in range(processes)])
        while time.time() < go_at:
            time.sleep(0.01)
        started = time.perf_counter()
        approvals = sum(result.get(timeout=900))
        elapsed = time.perf_counter() - started
    return approvals, elapsed


@dataclass
class Side:
    """One side of the bench's comparisons: a server, what its clients drive, and who they are;
    with what its timed segments added up to."""

    name: str
    server: Server
    target: Target
    people: list[dict]
    approvals: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0
    rates: list[float] = field(default_factory=list)  # approvals/s of each timed segment

    def per_s(self) -> float:
        return self.approvals / self.elapsed

    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.approvals


@dataclass
class Comparison:
    """`side` against `baseline`, in pairs of segments run one after the other (see `alternate`)."""

    side: Side
    baseline: Side
    ratios: list[float] = field(default_factory=list)  # side/baseline of each pair

    def ratio(self) -> float:
        return statistics.median(self.ratios)

    def pairs(self) -> str:
        return ",".join(f"{ratio:.3f}" for ratio in self.ratios)


def segment(side: Side, worker: subprocess.Popen, rounds: int, offset: int) -> float:
    """One timed segment of `side`: its clients' `rounds` requests from request number `offset`,
    until every process has finished and the worker is idle again (so no job of this segment runs
    in the next one). Adds to the side's totals; returns its approvals/s."""
    cpu_before = side.server.cpu_seconds() + process_tree_cpu_seconds(worker.pid)
    approvals, elapsed = http_run(side.server.port, side.target, side.people, rounds, offset)
    worker_idle(REDIS_URL)
    side.cpu += side.server.cpu_seconds() + process_tree_cpu_seconds(worker.pid) - cpu_before
    side.approvals += approvals
    side.elapsed += elapsed
    side.rates.append(approvals / elapsed)
    return approvals / elapsed


WARM_OFFSET = 20_000  # request numbers of the untimed segments (the timed ones count from 0)


def warm(side: Side) -> None:
    """One untimed segment of `side` (one request a client), until the worker is idle again."""
    http_run(side.server.port, side.target, side.people, 1, WARM_OFFSET)
    worker_idle(REDIS_URL)


def alternate(comparison: Comparison, worker: subprocess.Popen, pairs: int, rounds: int) -> None:
    """Time both sides of `comparison` in `pairs` pairs of short segments, one side right after the
    other, first one then the other going first, the same request numbers in both halves of a
    pair. This machine's speed drifts by a third within minutes: two long runs minutes apart
    compare two machines. A pair compares the sides seconds apart, and the median of the pairs'
    ratios leaves out a pair that a burst of load elsewhere hit.

    After the settle, each side first runs one untimed segment (`warm`): the CHECKPOINT makes the
    first change to each page write its full image to the WAL, and whichever side ran first paid
    for all of it. The portal goes first in the first pair of every comparison and writes more
    pages than plain viewflow, so the method was uneven; the figures did not show it beyond their
    noise (docs/benchmarks.md, thirteenth session)."""
    database_settle()
    for side in (comparison.side, comparison.baseline):
        warm(side)
    for index in range(pairs):
        offset = index * rounds
        sides = (comparison.side, comparison.baseline)
        first, second = sides if index % 2 == 0 else sides[::-1]
        rate = {first.name: segment(first, worker, rounds, offset)}
        rate[second.name] = segment(second, worker, rounds, offset)
        comparison.ratios.append(rate[comparison.side.name] / rate[comparison.baseline.name])


def side_start(name: str, target: Target, people: list[dict], **server: object) -> Side:
    """A side with its server up and warmed (imports, pools, template caches)."""
    log = ROOT / "var" / "bench-approvals" / f"uvicorn-{name}.log"
    side = Side(name, Server(free_port(), log=log, **server), target, people)  # type: ignore[arg-type]
    side.server.wait()
    http_run(side.server.port, target, people, 1, 10_000)
    return side


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, about two minutes")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument(
        "--rounds", type=int, help="requests per client in a timed segment (default 8, 3 with --quick)"
    )
    parser.add_argument(
        "--pairs", type=int, help="pairs of segments per comparison (default 5, 3 with --quick)"
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default 2)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 8)
    pairs = args.pairs or (3 if args.quick else 5)

    prepare_database()
    people = create_people(args.clients)
    plain_people = create_baseline_people(args.clients)
    queries = queries_per_step(people[0])

    workers = args.workers
    sink = OtlpSink()
    worker = worker_start(ROOT, dict(os.environ))
    portal = side_start("portal", portal_target(), people, workers=workers)
    try:
        # Two servers up at a time: the portal's, and the one it is compared with.
        plain = side_start(
            "plain",
            BASELINE,
            plain_people,
            workers=workers,
            app="bench.asgi_baseline:application",
            settings="bench.settings_http_baseline",
            ready=("/healthz", 404),  # plain Django: up as soon as it answers at all
        )
        to_plain = Comparison(portal, plain)
        try:
            alternate(to_plain, worker, pairs, rounds)
        finally:
            plain.server.stop()
        # The same requests as a process catalog type, and the portal's with traces on (ADR 0019,
        # exported over OTLP/HTTP to a local sink that drops them): each against the portal's own
        # segments, timed beside it.
        catalog_side = side_start("catalog", catalog_target(), people, workers=workers)
        to_catalog = Comparison(catalog_side, Side("portal", portal.server, portal.target, people))
        try:
            alternate(to_catalog, worker, pairs, rounds)
        finally:
            catalog_side.server.stop()
        traced = side_start(
            "traced",
            portal.target,
            people,
            workers=workers,
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint},
        )
        to_traced = Comparison(traced, Side("portal", portal.server, portal.target, people))
        try:
            alternate(to_traced, worker, pairs, rounds)
        finally:
            traced.server.stop()
    finally:
        portal.server.stop()
        sink.stop()
        os.killpg(worker.pid, 15)
        worker.wait(timeout=30)

    database_settle()
    requests = args.clients * rounds * pairs
    base_approvals, base_elapsed = baseline_run(workers, requests // workers)
    base_per_s = base_approvals / base_elapsed
    per_s = portal.per_s()

    print(
        f"# {args.clients} clients; each comparison {pairs} pairs of segments of {rounds} requests a "
        f"client (half above 1,000: two stages), the two sides alternating; the portal "
        f"{portal.approvals} approvals in {portal.elapsed:.1f} s; uvicorn --workers {workers}, "
        f"DATABASE_POOL_MAX_SIZE={SERVER_POOL}; PostgreSQL + Redis on loopback; "
        f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"# queries per request: submit={queries['submit']} claim={queries['claim']} "
        f"approve={queries['approve']}; server and worker CPU {portal.cpu_ms():.1f} ms per "
        f"approval (its submit, claims and purchase order job included)"
    )
    print(
        f"# plain viewflow through HTTP (its own views, Django's default middleware, same uvicorn): "
        f"{plain.approvals} approvals in {plain.elapsed:.1f} s, server CPU {plain.cpu_ms():.1f} ms per "
        f"approval; the portal's segments beside it {_rates(portal)}, its own {_rates(plain)}"
    )
    print(
        f"# the same requests as a process catalog type (admin-defined, the generic flow): "
        f"{catalog_side.approvals} approvals in {catalog_side.elapsed:.1f} s, server CPU "
        f"{catalog_side.cpu_ms():.1f} ms per approval; segments {_rates(catalog_side)}, the "
        f"purchase request's beside them {_rates(to_catalog.baseline)}"
    )
    print(
        f"# traces on (OTLP/HTTP to a local sink): {traced.approvals} approvals in {traced.elapsed:.1f} s, "
        f"server CPU {traced.cpu_ms():.1f} ms per approval (off: {to_traced.baseline.cpu_ms():.1f}); "
        f"{sink.batches} batches, {sink.bytes / 1e6:.1f} MB exported"
    )
    print(f"# baseline: {base_approvals} approvals in {base_elapsed:.1f} s by {workers} processes")
    print("# ratios are the median of the pairs' ratios (pairs=, in the order they ran)")
    print(
        f"BENCH approvals per_s={per_s:.1f} approvals/s baseline={base_per_s:.1f} ratio={per_s / base_per_s:.3f}"
    )
    print(
        f"BENCH approvals catalog_per_s={catalog_side.per_s():.1f} approvals/s "
        f"baseline={to_catalog.baseline.per_s():.1f} (the code-defined purchase request) "
        f"ratio={to_catalog.ratio():.3f} pairs={to_catalog.pairs()}"
    )
    print(
        f"BENCH approvals traced_per_s={traced.per_s():.1f} approvals/s "
        f"baseline={to_traced.baseline.per_s():.1f} (traces off) ratio={to_traced.ratio():.3f} "
        f"pairs={to_traced.pairs()}"
    )
    print(
        f"BENCH approvals viewflow_http_per_s={plain.per_s():.1f} approvals/s baseline={base_per_s:.1f} "
        f"ratio={plain.per_s() / base_per_s:.3f}"
    )
    print(
        f"BENCH approvals ratio_to_viewflow_http={to_plain.ratio():.3f} ratio per_s={per_s:.1f} "
        f"baseline={plain.per_s():.1f} (plain viewflow through HTTP) cpu_ms={portal.cpu_ms():.1f} "
        f"baseline_cpu_ms={plain.cpu_ms():.1f} pairs={to_plain.pairs()}"
    )


def _rates(side: Side) -> str:
    return "/".join(f"{rate:.1f}" for rate in side.rates) + "/s"


if __name__ == "__main__":
    main()
