"""Benchmark: the cost of Prometheus's scrape of /metrics on PostgreSQL with 1,000,000 tasks.

    make bench NAME=metrics [ARGS=--quick] [ARGS=--explain]

The issue: "Gauges that need a query are computed at scrape time with bounded cost, so a scrape
of a million-task database stays under 100 ms." Sets up its own PostgreSQL database
(BENCH_DATABASE, default portal_bench_scrape) with bench/tasklist.py's data (1,000,000 human
tasks, 100,000 open; 500,000 processes, the 100,000 with an open task running) and, so every
gauge has rows to count:

- stuck candidates: running processes idle for days with nothing open, or only a lost job open
  (1 % of the processes), which the stuck gauge must find among the 100,000 running ones;
- a boundary timer per open task (SCHEDULED: the reminders an escalation policy arms), 50 of them
  due and not fired yet; 20 failed jobs (incidents);
- the email outbox (pending, failed, and 50,000 sent) and the webhook outbox (pending, failed,
  and 100,000 delivered, kept WEBHOOK_KEEP_DAYS).

Then it scrapes as Prometheus does: GET /metrics through Django's request handler (every
middleware; no session, no network) from loopback, with the counters in multi-process mode
(PROMETHEUS_MULTIPROC_DIR, as under uvicorn --workers) and the broker probe on Redis
(BENCH_REDIS_URL, default db 8, flushed). Baseline in the same run, interleaved with it in
rounds: the same scrape with the database gauges (PortalCollector) taken out, so the same
handler, middleware, counters and broker probe; the ratio is what the database gauges add. A third
kind, interleaved too, is the code before the side read: every gauge query one after another on
the request's connection (`sequential_p95_ms`).
(/healthz would leave out the counters and the exposition, and say less about the scrape.)

Prints

    BENCH metrics p95_ms=<v> ms baseline=<v> ratio=<v> queries=<n> p50_ms=<v> ...

and each scrape query's time (p50/p95 over the timed scrapes, with its gauge) and its
EXPLAIN ANALYZE execution time; `--explain` prints the whole plans. `--quick`: 100,000 tasks.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import time
from collections import defaultdict

from bench.tasklist import (
    ORDER,
    PURCHASE,
    ROOT,
    bench_env,
    fresh_database,
    p95,
    tasks_generate,
    users_create,
)

DATABASE = os.environ.get("BENCH_DATABASE", "portal_bench_scrape")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
MULTIPROC_DIR = ROOT / "var" / "bench" / "metrics-multiproc"
ROUNDS = 10

# Which gauge a scrape query serves, by the table it reads first (processes/metrics.py).
GAUGES = [
    ('FROM "processes_taskrow"', "tasks_open+overdue"),
    ('FROM "viewflow_process"', "processes_stuck"),
    ('"viewflow_task"."scheduled"', "timers_due_oldest"),
    ('FROM "viewflow_task"', "incidents_open"),
    ('FROM "processes_outgoingemail"', "emails"),
    ('FROM "processes_webhookdelivery"', "webhooks"),
]


def _gauge_of(sql: str) -> str:
    return next((gauge for marker, gauge in GAUGES if marker in sql), sql[:40])


def _extras(processes: int, quick: bool) -> float:
    """What the task list's data lacks for the scrape: stuck candidates, timers, failed jobs and
    the two outboxes. Process and task ids continue after tasks_generate's. Returns seconds."""
    from django.db import connection

    from processes.api.models import ApiClient
    from processes.webhooks.models import WebhookEndpoint

    started = time.perf_counter()
    scale = 10 if quick else 1
    stuck, failed = processes // 100, 20
    first, last = processes + 1, processes + stuck + failed
    sent, delivered = 50_000 // scale, 100_000 // scale
    client = ApiClient.objects.create(name="bench-shop", scopes=["webhooks:receive"])
    endpoint = WebhookEndpoint.objects.create(
        client=client, url="https://shop.example.com/hooks", events=["process.finished"]
    )
    statements = [
        # stuck candidates (first .. first + stuck - 1): running purchase requests and orders
        # started three days ago whose last task finished then; failed ones after them
        f"""INSERT INTO viewflow_process (id, flow_class, status, created, finished, data)
            SELECT g, CASE WHEN g % 2 = 0 THEN '{ORDER}' ELSE '{PURCHASE}' END, 'NEW',
                   now() - interval '3 days', NULL, '{{}}'::jsonb
            FROM generate_series({first}, {last}) g""",  # noqa: S608 - numbers and constants of this file only
        f"""INSERT INTO processes_purchaseprocess (process_ptr_id, correlation_id, title, amount, currency,
                   justification, requester_id, revision, withdrawn, priority, stage_order)
            SELECT g, gen_random_uuid(), 'Stuck ' || g, 100, 'EUR', 'Benchmark',
                   (SELECT min(id) FROM auth_user), 0, false, 2, 1
            FROM generate_series({first}, {last}) g WHERE g % 2 <> 0""",  # noqa: S608 - numbers and constants of this file only
        f"""INSERT INTO processes_orderprocess (process_ptr_id, correlation_id, customer_name, customer_email,
                   lines, total, currency, payment_method, shipping_address, authorization_ref, capture_ref,
                   reservation_ref, outcome, fraud_score, fraud_review_sla, shipment_ref, delivery)
            SELECT g, gen_random_uuid(), 'Customer ' || g, 'c' || g || '@example.com', '[]'::jsonb,
                   50, 'EUR', 'card', 'Somewhere', '', '', '', '', 10, interval '4 hours', '', ''
            FROM generate_series({first}, {last}) g WHERE g % 2 = 0""",  # noqa: S608 - numbers and constants of this file only
        # a done first task each (ids after the task list's 2 * processes)
        f"""INSERT INTO viewflow_task (id, flow_task, flow_task_type, status, created, finished, token,
                   process_id, data)
            SELECT 2 * {processes} + g - {first} + 1,
                   CASE WHEN g % 2 = 0 THEN '{ORDER}.start_from_api' ELSE '{PURCHASE}.start' END, 'START',
                   'DONE', now() - interval '3 days', now() - interval '3 days', 'start', g, '{{}}'::jsonb
            FROM generate_series({first}, {last}) g""",  # noqa: S608 - numbers and constants of this file only
        # the orders' next step: a job, lost (still SCHEDULED) for the stuck, ERROR for the failed
        f"""INSERT INTO viewflow_task (id, flow_task, flow_task_type, status, created, finished, token,
                   process_id, data)
            SELECT 3 * {processes} + g - {first} + 1, '{ORDER}.authorize_payment', 'JOB',
                   CASE WHEN g > {first + stuck - 1} THEN 'ERROR' ELSE 'SCHEDULED' END,
                   now() - interval '3 days', NULL, 'start', g, '{{}}'::jsonb
            FROM generate_series({first}, {last}) g WHERE g % 2 = 0 OR g > {first + stuck - 1}""",  # noqa: S608 - numbers and constants of this file only
        # a reminder timer per open people's task (the escalation policy's boundaries), in the
        # future; fifty of them due and not fired yet
        f"""INSERT INTO viewflow_task (id, flow_task, flow_task_type, status, created, scheduled, token,
                   process_id, data)
            SELECT 4 * {processes} + row_number() OVER (ORDER BY t.id),
                   CASE WHEN p.flow_class = '{ORDER}' THEN '{ORDER}.review_fraud__timeout'
                        ELSE '{PURCHASE}.approve__timeout' END, 'TIMER', 'SCHEDULED', t.created,
                   CASE WHEN t.id % 2000 = 0 THEN now() - make_interval(secs => t.id % 600)
                        ELSE now() + make_interval(secs => t.id % 172800) END,
                   'start', t.process_id, '{{}}'::jsonb
            FROM viewflow_task t JOIN viewflow_process p ON p.id = t.process_id
            WHERE t.status IN ('NEW', 'ASSIGNED') AND t.flow_task_type = 'HUMAN'""",  # noqa: S608 - numbers and constants of this file only
        # the email outbox: mostly sent, some pending and failed
        f"""INSERT INTO processes_outgoingemail (kind, to_address, subject, text, html, headers, traceparent,
                   status, attempts, last_error, created_at, next_attempt_at, sent_at)
            SELECT 'task.assigned', 'u' || g || '@example.com', 'Task ' || g, 'Body', '', '{{}}'::jsonb, '',
                   CASE WHEN g <= 200 THEN 'pending' WHEN g <= 220 THEN 'failed' ELSE 'sent' END,
                   1, '', now() - make_interval(secs => g), now(),
                   CASE WHEN g > 220 THEN now() - make_interval(secs => g) END
            FROM generate_series(1, {sent + 220}) g""",  # noqa: S608 - numbers and constants of this file only
        # the webhook outbox: delivered rows kept WEBHOOK_KEEP_DAYS, some pending and failed
        f"""INSERT INTO processes_webhookdelivery (endpoint_id, event_type, msg_id, payload, process_id, status,
                   attempts, last_error, created_at, next_attempt_at, delivered_at)
            SELECT {endpoint.pk}, 'process.finished', 'msg_' || g, '{{}}'::jsonb, g,
                   CASE WHEN g <= 100 THEN 'pending' WHEN g <= 110 THEN 'failed' ELSE 'delivered' END,
                   1, '', now() - make_interval(secs => g * 20), now(),
                   CASE WHEN g > 110 THEN now() - make_interval(secs => g * 20) END
            FROM generate_series(1, {delivered + 110}) g""",  # noqa: S608 - numbers and constants of this file only
        f"ALTER TABLE viewflow_process ALTER COLUMN id RESTART WITH {last + 1}",
        f"ALTER TABLE viewflow_task ALTER COLUMN id RESTART WITH {5 * processes + 1}",
        "VACUUM ANALYZE",
        "CHECKPOINT",
    ]
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
    return time.perf_counter() - started


def _django() -> None:
    os.environ.update(bench_env(DATABASE))
    os.environ["REDIS_URL"] = REDIS_URL
    shutil.rmtree(MULTIPROC_DIR, ignore_errors=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(MULTIPROC_DIR)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def _scrape(client) -> tuple[float, float, bytes]:
    started, started_cpu = time.perf_counter(), time.thread_time()
    response = client.get("/metrics")  # REMOTE_ADDR 127.0.0.1, no session, no token
    took, cpu = (time.perf_counter() - started) * 1000, (time.thread_time() - started_cpu) * 1000
    assert response.status_code == 200, response.status_code
    return took, cpu, response.content


def _sample(body: str, name: str) -> float:
    """The sum of a family's samples in an exposition text."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith((name + "{", name + " "))
    )


def _check(body: str) -> dict[str, float]:
    """Every gauge found what the data holds (a wrong query would be fast and useless)."""
    seen = {
        name: _sample(body, name)
        for name in (
            "portal_tasks_open",
            "portal_tasks_overdue",
            "portal_incidents_open",
            "portal_processes_stuck",
            "portal_timers_due_oldest_seconds",
            "portal_emails_pending",
            "portal_webhooks_pending",
            "portal_queue_depth",
        )
    }
    empty = [name for name, value in seen.items() if not value and name != "portal_queue_depth"]
    assert not empty, f"gauges with nothing counted: {empty}"
    assert "portal_broker_up 1.0" in body, "the broker probe did not answer"
    return seen


def _queries(client, scrapes: int) -> tuple[list[tuple[str, list]], dict[int, list[float]]]:
    """The scrape's queries (sql, params) and each one's time per scrape, in ms."""
    from django.db import connection

    captured: list[tuple[str, list]] = []
    timings: dict[int, list[float]] = defaultdict(list)
    index = [0]

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings[index[0]].append((time.perf_counter() - started) * 1000)
            if len(captured) <= index[0]:
                captured.append((sql, params))
            index[0] += 1

    with connection.execute_wrapper(timed):
        for _ in range(scrapes):
            index[0] = 0
            _scrape(client)
    return captured, timings


def _explain(sql: str, params) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return [row[0] for row in cursor.fetchall()]


def _indexes_0028(*, create: bool) -> None:
    """Drop or create migration 0028's indexes (--compare: the code before and after it)."""
    import importlib

    from django.apps import apps
    from django.db import connection
    from django.db.migrations import AddIndex

    migration = importlib.import_module("processes.migrations.0028_scrape_indexes")
    with connection.schema_editor(atomic=False) as editor:
        for operation in migration.Migration.operations:
            if isinstance(operation, AddIndex):
                model = apps.get_model("processes", operation.model_name)
                change = editor.add_index if create else editor.remove_index
                change(model, operation.index)
    with connection.cursor() as cursor:
        for up, down in migration.SQL:
            cursor.execute(up if create else down)
        cursor.execute("VACUUM ANALYZE")
    print(f"# {'created' if create else 'dropped'} the 0028 indexes", flush=True)


def _phase(client, scrapes: int, explain: bool, label: str) -> None:
    """Scrape and baseline in interleaved rounds, each query timed and explained; one BENCH line."""
    import processes.metrics as metrics

    for _ in range(3):  # warm: connections in the pool, plans, the multi-process files
        _, _, body = _scrape(client)
    seen = _check(body.decode())
    print("# gauges (sum of samples): " + ", ".join(f"{k}={v:g}" for k, v in seen.items()), flush=True)

    db_gauges = metrics.PortalCollector.collect
    side_read = metrics._side_read

    def without_db_gauges(self):
        return iter(())

    def inline(read):
        result = read()
        return lambda: result

    # Three kinds of scrape, interleaved: ours; the same with every gauge query one after another
    # on the request's connection (the code before the side read); the baseline without them.
    ours, ours_cpu, theirs, theirs_cpu, serial = [], [], [], [], []
    per_round = max(1, scrapes // ROUNDS)
    for _ in range(ROUNDS):
        for _ in range(per_round):
            took, cpu, _ = _scrape(client)
            ours.append(took)
            ours_cpu.append(cpu)
        metrics._side_read = inline
        try:
            for _ in range(per_round):
                serial.append(_scrape(client)[0])
        finally:
            metrics._side_read = side_read
        metrics.PortalCollector.collect = without_db_gauges  # type: ignore[method-assign]
        try:
            for _ in range(per_round):
                took, cpu, _ = _scrape(client)
                theirs.append(took)
                theirs_cpu.append(cpu)
        finally:
            metrics.PortalCollector.collect = db_gauges  # type: ignore[method-assign]

    metrics._side_read = inline  # every query on this connection, so that each one is timed
    try:
        captured, timings = _queries(client, min(scrapes, 100))
    finally:
        metrics._side_read = side_read
    print(
        f"# {label or 'the scrape'}: {len(captured)} queries, ms over {len(timings[0])} scrapes "
        "(timed one after another; a scrape runs the open tasks' beside the others), then EXPLAIN ANALYZE:"
    )
    for n, (sql, params) in enumerate(captured):
        plan = _explain(sql, params)
        execution = next((line for line in plan if line.startswith("Execution Time")), "?")
        print(
            f"#   {n + 1}. {_gauge_of(sql):<20} p50 {statistics.median(timings[n]):6.2f}  "
            f"p95 {p95(timings[n]):6.2f}  explain: {plan[0].split('  (')[0].strip()}; {execution}",
            flush=True,
        )
        if explain:
            print("#      " + sql)
            for line in plan:
                print("#      " + line)
    ours_p95, base = p95(ours), p95(theirs)
    print(
        f"# load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; scrape CPU p50 "
        f"{statistics.median(ours_cpu):.1f} ms, baseline {statistics.median(theirs_cpu):.1f} ms"
    )
    print(
        f"BENCH metrics p95_ms={ours_p95:.1f} ms baseline={base:.1f} ratio={ours_p95 / base:.3f} "
        f"queries={len(captured)} p50_ms={statistics.median(ours):.1f} "
        f"baseline_p50_ms={statistics.median(theirs):.1f} max_ms={max(ours):.1f} "
        f"sequential_p95_ms={p95(serial):.1f} sequential_p50_ms={statistics.median(serial):.1f}"
        + (f" indexes={label.replace(' ', '_')}" if label else ""),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 tasks and fewer scrapes")
    parser.add_argument("--tasks", type=int, help="number of tasks (default 1,000,000; 100,000 with --quick)")
    parser.add_argument(
        "--scrapes", type=int, help="timed scrapes of each kind (default 400; 100 with --quick)"
    )
    parser.add_argument(
        "--compare", action="store_true", help="first without migration 0028's indexes, then with them"
    )
    parser.add_argument("--explain", action="store_true", help="print every scrape query's EXPLAIN ANALYZE")
    args = parser.parse_args()
    tasks = args.tasks or (100_000 if args.quick else 1_000_000)
    scrapes = args.scrapes or (100 if args.quick else 400)
    processes = tasks // 2

    print(
        f"# metrics: {tasks} tasks ({processes // 5} open), {scrapes} scrapes and {scrapes} baseline "
        f"scrapes in {ROUNDS} interleaved rounds; {platform.node()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}",
        flush=True,
    )
    fresh_database(DATABASE)
    _django()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    call_command("migrate", verbosity=0)
    seconds = tasks_generate(processes, users_create())
    seconds += _extras(processes, args.quick)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(" on ")[0]
    print(f"# generated in {seconds:.1f} s; {version}", flush=True)

    client = Client()
    if args.compare:
        _indexes_0028(create=False)
        _phase(client, scrapes, args.explain, "without the 0028 indexes")
        _indexes_0028(create=True)
    _phase(client, scrapes, args.explain, "0028 indexes" if args.compare else "")
    shutil.rmtree(MULTIPROC_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
