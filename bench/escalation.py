"""Benchmark: how late escalation timers fire after their due moment, with many armed.

    make bench NAME=escalation               # 10,000 timers due over 20 minutes
    make bench NAME=escalation ARGS=--quick  # 320 timers due over 30 seconds
    make bench NAME=escalation ARGS="--armed 100000 --timers 2500 --window 300"
                                             # 2,500 due at the full run's rate, 100,000 armed

Sets up its own PostgreSQL database and Redis db. Purchase requests are submitted through the
real service under a policy whose stage has a reminder and three escalation levels (notify), so
each approval task arms four real boundary timers (`approve__timeout` ... `_4`). Their due
moments are then spread evenly over a window starting a few seconds ahead, and fired by:

- the portal's scheduler, as in production: `celery -A portal beat` sending
  `processes.tasks.timers_fire_due` every second to a real `celery -A portal worker -c 2`
  (single-flight guard in Redis, the flow lock on PostgreSQL);
- the baseline, a second batch due at the same rate (at most 2,000 timers, over a window
  shortened in proportion, to keep the run's length bearable): viewflow's own `manage.py
  workflow_timers` command run the documented way (a periodic command), back to back in a
  loop, each run a fresh process as cron or a systemd timer would start it. (Cron itself
  runs at most once a minute, which would be ~30 s late on average by construction.)

Lateness of a timer = the moment the sweep claimed it (`Task.started`, set under the flow lock
by the timer's start transition) minus its due moment (`Task.scheduled`). Prints
`BENCH escalation p99_lateness_s=<v> s baseline=<v> ratio=<v>` plus p50/p95/max lines.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATABASE = os.environ.get("BENCH_DATABASE", "portal_bench_escalation")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
TIMERS_PER_TASK = 4  # the reminder and three levels
ENV = {
    **os.environ,
    "DATABASE_URL": f"postgres://root@127.0.0.1:5432/{DATABASE}",
    "REDIS_URL": REDIS_URL,
    "DEBUG": "0",
    "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",
    "SESSION_COOKIE_SECURE": "0",
    "CSRF_COOKIE_SECURE": "0",
    "SECURE_HSTS_SECONDS": "0",
    "LOG_LEVEL": "WARNING",
    "PORTAL_VAR_DIR": str(ROOT / "var" / "bench"),
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _fresh_database() -> None:
    import psycopg

    with psycopg.connect("postgresql://root@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=ENV, check=True)


def _spawn(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *argv],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, 15)
    process.wait(timeout=60)


def _setup_policy():
    from django.contrib.auth import get_user_model

    from processes.policies.models import EscalationAction
    from processes.policies.services import policy_create
    from processes.roles import roles_sync

    groups = roles_sync()
    users = get_user_model().objects
    requester = users.create_user("bench-requester")
    requester.groups.add(groups["requesters"])
    for n in range(3):
        users.create_user(f"bench-approver-{n}").groups.add(groups["approvers"])
    policy_create(
        name="purchase",
        stages=[
            {
                "name": "Team approval",
                "group": groups["approvers"],
                "sla": timedelta(days=1),
                "reminder_before": timedelta(hours=1),
                "levels": [(timedelta(hours=h), EscalationAction.NOTIFY) for h in (0, 1, 2)],
            }
        ],
    )
    return requester


def _arm_some(args: tuple[int, int]) -> list[int]:
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    from processes.purchase.services import purchase_request_start

    requester_id, count = args
    requester = get_user_model().objects.get(pk=requester_id)
    data = {"title": "Bench chair", "amount": Decimal("100.00"), "currency": "EUR", "justification": "Bench."}
    return [purchase_request_start(requester=requester, data=data).pk for _ in range(count)]


def arm(requester, tasks: int, parallel: int = 4) -> list[int]:
    """Submit `tasks` purchase requests (4 armed timers each) from `parallel` forked processes;
    returns their process ids. (Only the set-up is parallel; it is not what is measured.)"""
    import multiprocessing

    from django.db import connections

    connections.close_all()  # each child opens its own connection
    shares = [tasks // parallel + (1 if n < tasks % parallel else 0) for n in range(parallel)]
    with multiprocessing.get_context("fork").Pool(parallel) as pool:
        chunks = pool.map(_arm_some, [(requester.pk, share) for share in shares if share])
    return [pk for chunk in chunks for pk in chunk]


def spread(process_ids: list[int], window: float, lead: float) -> None:
    """Make the processes' timers due evenly over `window` seconds, starting `lead` s from now."""
    from django.db import connection, transaction
    from django.utils import timezone

    start = timezone.now() + timedelta(seconds=lead)
    with transaction.atomic(), connection.cursor() as cursor:
        # one statement, not one UPDATE per timer: at 100,000 armed that loop alone took minutes
        cursor.execute(
            """WITH numbered AS (
                   SELECT id, row_number() OVER (ORDER BY id) - 1 AS n, count(*) OVER () AS total
                   FROM viewflow_task WHERE process_id = ANY(%s) AND flow_task_type = 'TIMER')
               UPDATE viewflow_task t
               SET scheduled = %s + make_interval(secs => %s * n / GREATEST(1, total - 1))
               FROM numbered WHERE t.id = numbered.id""",
            [process_ids, start, window],
        )


IDLE_REAL_TASKS = 250  # real armed processes behind the idle timers; the rest are copies


def arm_idle(requester, timers: int, after: float) -> None:
    """Arm `timers` more timers, due over the day that starts `after` seconds from now: in the
    table for every sweep of the measurement, never fired by it.

    Submitting through the service runs at about 12 requests a second on this machine (25,000
    requests for 100,000 timers: over half an hour), so only the first IDLE_REAL_TASKS
    processes are submitted; the rest of the timers are SQL copies of their SCHEDULED timer
    rows (same columns, same processes, their own ids and due moments). What the sweep reads,
    the timer rows, is the same either way.
    """
    from django.db import connection, transaction
    from django.utils import timezone

    ids = arm(requester, min(IDLE_REAL_TASKS, timers // TIMERS_PER_TASK))
    spread(ids, 86_400.0, after)
    copies = timers - len(ids) * TIMERS_PER_TASK
    if copies <= 0:
        return
    start = timezone.now() + timedelta(seconds=after)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """WITH tpl AS (
                   SELECT row_number() OVER (ORDER BY id) - 1 AS n, count(*) OVER () AS total, t.*
                   FROM viewflow_task t
                   WHERE process_id = ANY(%s) AND flow_task_type = 'TIMER' AND status = 'SCHEDULED')
               INSERT INTO viewflow_task (flow_task, flow_task_type, status, created, token,
                   owner_permission, process_id, data, scheduled)
               SELECT tpl.flow_task, tpl.flow_task_type, tpl.status, tpl.created, tpl.token,
                   tpl.owner_permission, tpl.process_id, tpl.data,
                   %s + make_interval(secs => 86400.0 * g / %s)
               FROM generate_series(0, %s - 1) g JOIN tpl ON tpl.n = g %% tpl.total""",
            [ids, start, copies, copies],
        )
        cursor.execute("ANALYZE viewflow_task")


def lateness(process_ids: list[int], timeout: float) -> list[float]:
    """Wait until every timer of the processes fired; their lateness in seconds."""
    from viewflow.workflow.models import Task
    from viewflow.workflow.status import STATUS

    timers = Task.objects.filter(process_id__in=process_ids, flow_task_type="TIMER")
    deadline = time.monotonic() + timeout
    while timers.filter(status=STATUS.SCHEDULED).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {timers.filter(status=STATUS.SCHEDULED).count()} timers never fired")
        time.sleep(1)
    fired = list(timers.values_list("started", "scheduled", "status"))
    bad = [status for _, _, status in fired if status != STATUS.DONE]
    if bad:
        raise SystemExit(f"bench: {len(bad)} timers ended in {set(bad)}")
    return [(started - scheduled).total_seconds() for started, scheduled, _ in fired]


def run_portal(requester, tasks: int, window: float, lead: float, idle: int = 0) -> list[float]:
    ids = arm(requester, tasks)
    if idle:
        started = time.monotonic()
        arm_idle(requester, idle * TIMERS_PER_TASK, lead + window + 3_600.0)
        print(f"# armed {idle * TIMERS_PER_TASK} more in {time.monotonic() - started:.0f} s", flush=True)
    worker = _spawn(
        ["-m", "celery", "-A", "portal", "worker", "-c", "2", "--without-gossip", "--without-mingle"]
    )
    beat = _spawn(
        [
            "-m",
            "celery",
            "-A",
            "portal",
            "beat",
            "--schedule",
            str(ROOT / "var" / "bench" / "beat-escalation"),
        ]
    )
    try:
        time.sleep(8)  # prefork and beat start-up, before the first timer is due
        spread(ids, window, lead)
        return lateness(ids, timeout=window + lead + 600)
    finally:
        _stop(beat)
        _stop(worker)


def run_baseline(requester, tasks: int, window: float, lead: float) -> list[float]:
    from viewflow.workflow.models import Task
    from viewflow.workflow.status import STATUS

    ids = arm(requester, tasks)
    spread(ids, window, lead)
    pending = Task.objects.filter(process_id__in=ids, flow_task_type="TIMER", status=STATUS.SCHEDULED)
    while pending.exists():
        subprocess.run(
            [sys.executable, "manage.py", "workflow_timers"],
            cwd=ROOT,
            env=ENV,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return lateness(ids, timeout=60)


def _line(name: str, values: list[float]) -> str:
    return (
        f"# {name}: {len(values)} timers, p50={percentile(values, 50):.3f}s p95={percentile(values, 95):.3f}s "
        f"p99={percentile(values, 99):.3f}s max={max(values):.3f}s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under two minutes")
    parser.add_argument("--timers", type=int, help="timers due in the window (default 10,000; 320 quick)")
    parser.add_argument("--window", type=float, help="seconds the due moments spread over (1200; 30 quick)")
    parser.add_argument(
        "--armed",
        type=int,
        help="timers armed in all (default: --timers); the ones beyond --timers are due after "
        "the window, so every sweep of the measurement runs with this many armed",
    )
    args = parser.parse_args()
    timers = args.timers or (320 if args.quick else 10_000)
    window = args.window or (30.0 if args.quick else 1200.0)
    armed = max(args.armed or timers, timers)
    tasks = timers // TIMERS_PER_TASK
    idle_tasks = (armed - timers) // TIMERS_PER_TASK
    base_tasks = min(tasks, 2000 // TIMERS_PER_TASK)
    lead = 5.0

    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    _fresh_database()
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()

    requester = _setup_policy()
    print(
        f"# escalation: {timers} timers due over {window:.0f} s, {(tasks + idle_tasks) * TIMERS_PER_TASK} "
        f"armed; {DATABASE}, {REDIS_URL}; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    ours = run_portal(requester, tasks, window, lead, idle_tasks)
    load_ours = os.getloadavg()[0]
    base = run_baseline(requester, base_tasks, window * base_tasks / tasks, lead)

    print(
        f"# {tasks * TIMERS_PER_TASK} timers due over {window:.0f} s ({tasks * TIMERS_PER_TASK / window:.1f}/s), "
        f"{(tasks + idle_tasks) * TIMERS_PER_TASK} armed, "
        f"beat + worker -c 2; baseline {base_tasks * TIMERS_PER_TASK} timers at the same rate, "
        f"`manage.py workflow_timers` back to back; PostgreSQL + Redis on loopback; "
        f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average {load_ours:.2f} after the portal's run, {os.getloadavg()[0]:.2f} at the end"
    )
    print(_line("portal (beat + worker)", ours))
    print(_line("baseline (workflow_timers loop)", base))
    p99, base_p99 = percentile(ours, 99), percentile(base, 99)
    print(
        f"BENCH escalation p99_lateness_s={p99:.3f} s baseline={base_p99:.3f} ratio={p99 / base_p99:.3f} "
        f"armed={(tasks + idle_tasks) * TIMERS_PER_TASK}"
    )


if __name__ == "__main__":
    main()
