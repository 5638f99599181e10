"""Benchmark: server time of the task list pages on PostgreSQL with 1,000,000 tasks (100,000 open).

    make bench NAME=tasklist [ARGS=--quick]
    BENCH_DATABASE=portal_bench_tasklist10m make bench NAME=tasklist ARGS="--tasks 10000000 --baseline-requests 0"
    ... ARGS="--tasks 10000000 --reuse"     # measure again on the database the last run left

Sets up its own PostgreSQL database (BENCH_DATABASE, default portal_bench_tasklist), migrates it,
and generates the data with SQL (generate_series into viewflow_process, the purchase and order
tables, viewflow_task and processes_taskrow), not through the flows: two human tasks per
process, one done and, for one process in five, one open (60 % queued, 40 % assigned to one of
50 operators). 90 % purchase requests, 10 % orders in fraud review; queues split over four
candidate permissions.

Then, in the same run and on the same data, it requests each page many times as one operator
through Django's request handler (every middleware, the session, the view, the template; no
network): the portal's inbox, filtered and sorted queue, archive and search, and as the
baseline viewflow's own inbox, queue and archive pages of the purchase flow. Server time is
the handler's wall time per request (the web process's own CPU time is printed beside it: on a
shared machine the wall time includes waiting for a core). Prints, per page,

    BENCH tasklist p95_ms=<v> ms baseline=<v> ratio=<v> page=<page> p50_ms=<v>

and `BENCH tasklist queries=<n> baseline=<n> ratio=<v>` (queries per page, the same for every
page size: the tests pin them). The last page, `pinned`, is the queue with three pinned saved
filters counted on it (ADR 0022). `--quick` uses 100,000 tasks (10,000 open).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATABASE = os.environ.get("BENCH_DATABASE", "portal_bench_tasklist")
OPERATORS = 50
REQUESTERS = 20
PURCHASE = "purchase/flows.PurchaseFlow"
ORDER = "orders/flows.OrderFlow"
OTHER_QUEUES = ["processes.candidate_9001", "processes.candidate_9002"]


def bench_env(database: str) -> dict[str, str]:
    """The benchmark's Django environment on PostgreSQL database `database` (production settings,
    no Redis unless the caller adds it). Shared with bench/metrics.py."""
    return {
        "DATABASE_URL": f"postgres://root@127.0.0.1:5432/{database}",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG",
        "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        "STATIC_MANIFEST": "0",
        "STATIC_USE_FINDERS": "1",
        "LOG_LEVEL": "WARNING",
        "PORTAL_VAR_DIR": str(ROOT / "var" / "bench"),
        "PASSWORD_HASHERS": "django.contrib.auth.hashers.MD5PasswordHasher",
        # as in production: a psycopg pool, not a new connection per request
        "DATABASE_POOL_MAX_SIZE": "4",
    }


ENV = bench_env(DATABASE)


def fresh_database(database: str = DATABASE) -> None:
    import psycopg

    with psycopg.connect("postgresql://root@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {database}")


def _django() -> None:
    os.environ.update(ENV)
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings

    # viewflow's own lists, the baseline, beside the portal's (bench/urls_tasklist.py)
    settings.ROOT_URLCONF = "bench.urls_tasklist"
    django.setup()


def users_create() -> dict[str, list[int]]:
    from django.contrib.auth import get_user_model

    from processes.roles import roles_sync

    groups = roles_sync()
    user_model = get_user_model()
    operators, requesters = [], []
    for n in range(1, OPERATORS + 1):
        user = user_model.objects.create_user(f"op{n:02d}", password="bench")
        user.groups.add(groups["approvers"], *([groups["fraud"]] if n % 5 == 1 else []))
        operators.append(user.pk)
    for n in range(1, REQUESTERS + 1):
        user = user_model.objects.create_user(
            f"req{n:02d}", password="bench", first_name="Req", last_name=f"{n}"
        )
        user.groups.add(groups["requesters"])
        requesters.append(user.pk)
    manager = user_model.objects.create_user("boss", password="bench")
    manager.groups.add(groups["managers"])
    return {"operators": operators, "requesters": requesters}


def tasks_generate(processes: int, users: dict[str, list[int]]) -> float:
    """Two human tasks per process: 2g-1 done, 2g open for one process in five. Returns seconds."""
    from django.db import connection

    started = time.perf_counter()
    ops = "ARRAY[" + ",".join(map(str, users["operators"])) + "]"
    reqs = "ARRAY[" + ",".join(map(str, users["requesters"])) + "]"
    queues = (
        "ARRAY['purchase.approve_purchase','purchase.approve_purchase',"
        + ",".join(f"'{q}'" for q in OTHER_QUEUES)
        + "]"
    )
    titles = (
        "ARRAY['Standing desk','Laptop','Monitor','Office chair','Desk lamp','Headset','Keyboard','Printer',"
        "'Conference travel','Software licence','Team offsite','Training course']"
    )
    statements = [
        f"""INSERT INTO viewflow_process (id, flow_class, status, created, finished, data)
            SELECT g, CASE WHEN g % 10 = 0 THEN '{ORDER}' ELSE '{PURCHASE}' END,
                   CASE WHEN g % 5 = 0 THEN 'NEW' ELSE 'DONE' END,
                   now() - make_interval(secs => ({processes} - g) * 30),
                   CASE WHEN g % 5 = 0 THEN NULL ELSE now() - make_interval(secs => ({processes} - g) * 30 - 7200) END,
                   '{{}}'::jsonb
            FROM generate_series(1, {processes}) g""",  # noqa: S608 - numbers and constants of this file only
        f"""INSERT INTO processes_purchaseprocess (process_ptr_id, correlation_id, title, amount, currency,
                   justification, requester_id, revision, withdrawn, priority, stage_order)
            SELECT g, gen_random_uuid(), ({titles})[1 + g % 12] || ' ' || g, (g * 37) % 5000 + 10, 'EUR',
                   'Benchmark', ({reqs})[1 + g % {REQUESTERS}], 0, false, 1 + (g / 7) % 4, 1
            FROM generate_series(1, {processes}) g WHERE g % 10 <> 0""",  # noqa: S608 - numbers and constants of this file only
        f"""INSERT INTO processes_orderprocess (process_ptr_id, correlation_id, customer_name, customer_email,
                   lines, total, currency, payment_method, shipping_address, authorization_ref, capture_ref,
                   reservation_ref, outcome, fraud_score, fraud_review_sla, shipment_ref, delivery)
            SELECT g, gen_random_uuid(), 'Customer ' || g, 'c' || g || '@example.com', '[]'::jsonb,
                   (g * 13) % 3000 + 5, 'EUR', 'card', 'Somewhere', '', '', '', '', 90, interval '4 hours', '', ''
            FROM generate_series(1, {processes}) g WHERE g % 10 = 0""",  # noqa: S608 - numbers and constants of this file only
        # the done task of every process
        f"""INSERT INTO viewflow_task (id, flow_task, flow_task_type, status, created, finished, token,
                   owner_permission, owner_id, process_id, data)
            SELECT 2 * g - 1,
                   CASE WHEN g % 10 = 0 THEN '{ORDER}.review_fraud' ELSE '{PURCHASE}.approve' END, 'HUMAN',
                   'DONE', p.created, p.created + interval '1 hour', 'start',
                   CASE WHEN g % 10 = 0 THEN 'orders.review_fraud' ELSE ({queues})[1 + g % 4] END,
                   ({ops})[1 + g % {OPERATORS}], g, '{{}}'::jsonb
            FROM generate_series(1, {processes}) g JOIN viewflow_process p ON p.id = g""",  # noqa: S608 - numbers and constants of this file only
        # the second task: open for one process in five (60 % queued, 40 % assigned), else done
        f"""INSERT INTO viewflow_task (id, flow_task, flow_task_type, status, created, finished, token,
                   owner_permission, owner_id, process_id, data)
            SELECT 2 * g,
                   CASE WHEN g % 10 = 0 THEN '{ORDER}.review_fraud' ELSE '{PURCHASE}.approve' END, 'HUMAN',
                   CASE WHEN g % 5 <> 0 THEN 'DONE' WHEN (g / 5) % 5 < 2 THEN 'ASSIGNED' ELSE 'NEW' END,
                   p.created + interval '1 hour',
                   CASE WHEN g % 5 <> 0 THEN p.created + interval '2 hours' END, 'start',
                   CASE WHEN g % 10 = 0 THEN 'orders.review_fraud' ELSE ({queues})[1 + (g / 3) % 4] END,
                   CASE WHEN g % 5 = 0 AND (g / 5) % 5 >= 2 THEN NULL ELSE ({ops})[1 + (g / 5) % {OPERATORS}] END,
                   g, '{{}}'::jsonb
            FROM generate_series(1, {processes}) g JOIN viewflow_process p ON p.id = g""",  # noqa: S608 - numbers and constants of this file only
        # the task list rows, as processes.tasklist.services.task_row_create writes them
        """INSERT INTO processes_taskrow (task_id, flow_class, process_id, node, subject, requester, amount,
                   currency, stage_name, kind, owner_permission, owner_id, status, priority, due_at, created,
                   finished, search)
            SELECT t.id, p.flow_class, p.id, CASE WHEN pp.process_ptr_id IS NULL THEN 'review_fraud' ELSE 'approve' END,
                   s.subject, s.requester, COALESCE(pp.amount, op.total), 'EUR',
                   CASE WHEN pp.process_ptr_id IS NULL THEN 'Review suspected fraud' ELSE 'Approval' END, '',
                   t.owner_permission, t.owner_id, t.status, COALESCE(pp.priority, 3),
                   t.created + interval '4 hours',
                   t.created, t.finished, lower(s.subject || ' ' || s.requester)
            FROM viewflow_task t
            JOIN viewflow_process p ON p.id = t.process_id
            LEFT JOIN processes_purchaseprocess pp ON pp.process_ptr_id = p.id
            LEFT JOIN processes_orderprocess op ON op.process_ptr_id = p.id
            LEFT JOIN auth_user u ON u.id = pp.requester_id
            CROSS JOIN LATERAL (SELECT
                   COALESCE(pp.title, 'ORD-' || lpad(p.id::text, 6, '0') || ' ' || op.customer_name) AS subject,
                   COALESCE(NULLIF(trim(u.first_name || ' ' || u.last_name), ''), u.username, op.customer_name)
                       AS requester) s""",
        f"ALTER TABLE viewflow_process ALTER COLUMN id RESTART WITH {processes + 1}",
        f"ALTER TABLE viewflow_task ALTER COLUMN id RESTART WITH {2 * processes + 1}",
        "VACUUM ANALYZE",  # as autovacuum would have: visibility map for index-only counts
        # Write the bulk load's dirty pages out now, not during the first page's measurement (a
        # running server's checkpoints write a trickle, not a million rows at once).
        "CHECKPOINT",
    ]
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
    return time.perf_counter() - started


def _measure(client, path: str, requests: int) -> tuple[list[float], int, list[float]]:
    from django.db import connection

    for _ in range(3):  # warm: the session, caches and the plan cache
        assert client.get(path).status_code == 200, path
    captured = []

    def count(execute, sql, params, many, context):
        captured.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):  # kept across the handler's reconnects
        client.get(path)
    timings, cpu = [], []
    for _ in range(requests):
        started, started_cpu = time.perf_counter(), time.thread_time()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        assert response.status_code == 200, path
    return timings, len(captured), cpu


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else max(values)


def _pins(operator) -> None:
    """Three pinned saved filters of `operator`'s: one per list, each counted on every list page."""
    from processes.tasklist.saved_services import saved_filter_create, saved_filter_pin

    for name, page, query in [
        ("Big ones", "inbox", "amount_min=2000&sort=priority"),
        ("Overdue", "queue", "overdue=on"),
        ("Orders", "archive", "q=order"),
    ]:
        saved_filter_pin(
            saved=saved_filter_create(owner=operator, name=name, page=page, query=query),
            user=operator,
            pinned=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="100,000 tasks and fewer requests, under two minutes"
    )
    parser.add_argument("--tasks", type=int, help="number of tasks (default 1,000,000; 100,000 with --quick)")
    parser.add_argument("--requests", type=int, help="requests per page (default 200; 25 with --quick)")
    parser.add_argument(
        "--baseline-requests",
        type=int,
        help="requests per viewflow page (default: --requests, at most 100; its queue takes "
        "seconds per page at 1M tasks, tens of seconds at 10M); 0: no viewflow pages",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure on the database left by an earlier run of the same size instead of "
        "generating it again (BENCH_DATABASE; minutes at 10M tasks)",
    )
    args = parser.parse_args()
    tasks = args.tasks or (100_000 if args.quick else 1_000_000)
    requests = args.requests or (25 if args.quick else 200)
    baseline_requests = min(requests, 100) if args.baseline_requests is None else args.baseline_requests
    processes = tasks // 2

    print(
        f"# tasklist: {tasks} tasks ({processes // 5} open), {requests} requests per page "
        f"({baseline_requests} per viewflow page), {DATABASE}, "
        f"{platform.node()} {os.cpu_count()} cores, {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    if not args.reuse:
        fresh_database()
    _django()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    if args.reuse:
        from processes.tasklist.models import SavedFilter, TaskRow

        found = TaskRow.objects.count()
        if found != tasks:
            raise SystemExit(f"bench: --reuse: {DATABASE} holds {found} task rows, not {tasks}")
        SavedFilter.objects.all().delete()  # the last run's pins: the pages before `pinned` show none
        print(f"# reused {DATABASE} ({found} task rows)", flush=True)
    else:
        users = users_create()
        seconds = tasks_generate(processes, users)
        print(f"# generated in {seconds:.1f} s", flush=True)

    operator = get_user_model().objects.get(username="op01")  # approvers and fraud
    client = Client()
    client.force_login(operator)
    pages = [
        ("inbox", "/tasks/inbox/", "/purchase/inbox/"),
        (
            "queue",
            "/tasks/queue/?sort=priority&amount_min=100&amount_max=4000&stage=Approval",
            "/purchase/queue/",
        ),
        ("archive", "/tasks/archive/", "/purchase/archive/"),
        ("search", "/tasks/queue/?q=desk+12", "/purchase/queue/"),
        # the queue again, with three pinned saved filters counted on it (ADR 0022); last, since
        # the pins show on every list page
        (
            "pinned",
            "/tasks/queue/?sort=priority&amount_min=100&amount_max=4000&stage=Approval",
            "/purchase/queue/",
        ),
    ]
    queries, baselines = {}, {}
    for name, path, baseline_path in pages:
        if name == "pinned":
            _pins(operator)
        ours, queries[name], ours_cpu = _measure(client, path, requests)
        if not baseline_requests:  # the portal's pages only (the 10M run: its baseline is the 1M run)
            queries[f"{name}_baseline"] = 0
            print(
                f"BENCH tasklist p95_ms={p95(ours):.1f} ms baseline=n/a page={name} "
                f"p50_ms={statistics.median(ours):.1f} python_cpu_p50_ms={statistics.median(ours_cpu):.1f} "
                f"load1={os.getloadavg()[0]:.2f}",
                flush=True,
            )
            continue
        if baseline_path not in baselines:  # the search's baseline is the queue's: measured once
            # (at most 100 requests: viewflow's queue takes seconds per page at this size)
            baselines[baseline_path] = _measure(client, baseline_path, baseline_requests)
        theirs, queries[f"{name}_baseline"], theirs_cpu = baselines[baseline_path]
        ours_p95, base = p95(ours), p95(theirs)
        print(
            f"BENCH tasklist p95_ms={ours_p95:.1f} ms baseline={base:.1f} ratio={ours_p95 / base:.3f} "
            f"page={name} p50_ms={statistics.median(ours):.1f} baseline_p50_ms={statistics.median(theirs):.1f} "
            f"python_cpu_p50_ms={statistics.median(ours_cpu):.1f} baseline_python_cpu_p50_ms={statistics.median(theirs_cpu):.1f} "
            f"load1={os.getloadavg()[0]:.2f}",
            flush=True,
        )
    ours_q = max(queries[name] for name, *_ in pages)
    theirs_q = max(queries[f"{name}_baseline"] for name, *_ in pages)
    detail = " ".join(f"{name}={queries[name]}" for name, *_ in pages)
    if not theirs_q:
        print(f"BENCH tasklist queries={ours_q} baseline=n/a {detail}")
        return
    print(f"BENCH tasklist queries={ours_q} baseline={theirs_q} ratio={ours_q / theirs_q:.3f} {detail}")


if __name__ == "__main__":
    main()
