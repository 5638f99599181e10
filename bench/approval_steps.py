"""A profiling aid for the approvals bench, not a benchmark: its steps in one process.

    .venv/bin/python -m bench.approval_steps [--rounds 60] [--sql] [--plain] [--profile FILE]

The same users and requests as `bench/approvals.py` (submit, claim, decide; every other request
above 1,000, so it has a finance stage too), sent through Django's test client in this process
instead of HTTP, on the bench's PostgreSQL database, and the purchase order job that ends each
request run here as the worker runs it (its own step, "job"): no uvicorn, no clients and no worker
share the CPU, so a change's effect on an approval's wall time, CPU time and statements shows
with less noise than through HTTP (docs/benchmarks.md, 2026-12-05). Besides this process's CPU
it prints the CPU of the PostgreSQL backend that served it. `--plain` runs plain viewflow's views
instead (the HTTP baseline's settings); `--sql` lists the statements an approval runs, most
frequent first; `--profile FILE` writes a cProfile of the timed rounds. Needs PostgreSQL and
Redis on loopback, as the bench does.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PLAIN = "--plain" in sys.argv

import bench.approvals as bench  # noqa: E402  # sets the bench's environment

if PLAIN:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings_http_baseline"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60, help="requests (default 60)")
    parser.add_argument("--sql", action="store_true", help="list the statements an approval runs")
    parser.add_argument("--plain", action="store_true", help="plain viewflow's views instead")
    parser.add_argument("--step", help="with --sql: only this step's statements (submit, claim, decide, job)")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the timed rounds to FILE")
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    bench.prepare_database()
    person = (bench.create_baseline_people(1) if PLAIN else bench.create_people(1))[0]
    target = bench.BASELINE if PLAIN else bench.portal_target()
    clients = {}
    for role in ("requester", "approver", "finance"):
        clients[role] = Client()
        clients[role].cookies["sessionid"] = person[role]["session"]

    steps: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0])  # n, wall, sql, statements
    statements: Counter[str] = Counter()
    current: dict = {"sql": 0.0, "count": 0, "step": ""}

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            current["sql"] += time.perf_counter() - started
            current["count"] += 1
            if args.sql and args.step in (None, current["step"]):
                statements[re.sub(r'"s\d+_x\d+"', '"<savepoint>"', sql)[:120]] += 1

    def measured(name: str, call):
        current.update(sql=0.0, count=0, step=name)
        started = time.perf_counter()
        with connection.execute_wrapper(timed):
            outcome = call()
        figures = steps[name]
        figures[0] += 1
        figures[1] += time.perf_counter() - started
        figures[2] += current["sql"]
        figures[3] += current["count"]
        return outcome

    def step(name: str, role: str, path: str, data: dict | None = None):
        response = measured(name, lambda: clients[role].post(path, data or {}))
        # As the HTTP bench's clients, which send their session cookie only: a message the page
        # after the redirect would show is not carried into the next request (the test client
        # would keep it, and every request would decode and re-sign the growing cookie).
        clients[role].cookies.pop("messages", None)
        if response.status_code != 302:
            raise SystemExit(f"{name} answered {response.status_code}")
        return response

    def job(process: int) -> None:
        """The job that ends the request, delivered as the worker delivers its message."""
        from viewflow.workflow.models import Task
        from viewflow.workflow.status import STATUS

        from processes.nodes.celery_job import job_execute

        task = Task.objects.get(process_id=process, flow_task_type="JOB", status=STATUS.SCHEDULED)
        ref = task.flow_task.activation_class(task).ref()
        outcome = measured("job", lambda: job_execute(ref, message_id=task.external_task_id))
        if outcome != "done":
            raise SystemExit(f"the job of process {process} ended {outcome}")

    def run(rounds: int, offset: int) -> int:
        approvals = 0
        for number in range(offset, offset + rounds):
            amount = bench.LARGE if number % 2 else bench.SMALL
            response = step("submit", "requester", target.start, target.start_form(number, amount))
            process = int(response["Location"].rstrip("/").rsplit("/", 1)[1])
            deciders = [("approver", target.nodes[0]), ("finance", target.nodes[1])]
            for role, node in deciders[: 2 if number % 2 else 1]:
                task = bench.open_task_pk(process)
                step("claim", role, target.assign(process, node, task))
                step("decide", role, target.execute(process, node, task), target.decision)
                approvals += 1
            if not PLAIN:
                job(process)
        return approvals

    run(4, 10_000)  # warm: imports, template and URL caches, compiled reads
    steps.clear()
    statements.clear()
    backend = _backend_pid(connection)
    database_cpu = _process_cpu_seconds(backend)
    profile = cProfile.Profile() if args.profile else None
    cpu, started = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    approvals = run(args.rounds, 0)
    if profile is not None:
        profile.disable()
        profile.dump_stats(args.profile)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    database_cpu = _process_cpu_seconds(backend) - database_cpu
    total = sum(figures[3] for figures in steps.values())
    print(
        f"# {'plain viewflow' if PLAIN else 'portal'}: {approvals} approvals, "
        f"{1000 * wall / approvals:.1f} ms wall and {1000 * cpu / approvals:.1f} ms CPU an approval, "
        f"{total / approvals:.1f} statements; PostgreSQL's backend {1000 * database_cpu / approvals:.1f} ms "
        f"CPU an approval (together {1000 * (cpu + database_cpu) / approvals:.1f} ms)"
    )
    for name, (count, step_wall, sql, queries) in steps.items():
        print(
            f"#   {name}: {1000 * step_wall / count:.2f} ms, {queries / count:.1f} statements "
            f"({1000 * sql / count:.2f} ms in them)"
        )
    for sql, count in statements.most_common(60):
        print(f"{count / approvals:6.2f}  {sql}")


def _backend_pid(connection) -> int:
    """The PostgreSQL backend serving this process's connection (all steps share it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return pid


def _process_cpu_seconds(pid: int) -> float:
    """User and system CPU of process `pid` so far (/proc: PostgreSQL runs on this machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
