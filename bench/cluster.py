"""Benchmark: approvals per second through HAProxy with 2 web nodes and 2 workers, against 1 of each.

    make bench NAME=cluster [ARGS=--quick]

The cluster as `make cluster` runs it (portal/cluster.py: HAProxy on one port, uvicorn web nodes
of one process each, Celery workers of 2 processes each, one beat), on PostgreSQL and Redis on
loopback. The clients are bench/approvals.py's: C concurrent clients, each a requester and an
approver (and a finance approver for the requests above 1,000) with real sessions and CSRF
checks, submit, claim and approve through the proxy. approvals/s = approval POSTs that returned
302 / wall time of the timed run. The workers run every final approval's purchase-order job
meanwhile; after the run, every approved request must be DONE (its job ran) and no request may
have failed: the run stops with an error otherwise.

Baseline, in the same run, on the same database and the same proxy: 1 web node and 1 worker.
On 2 cores the ratio is not expected to reach 2 (the clients, PostgreSQL and Redis share them);
the point is that a second node adds capacity and breaks nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# bench/approvals.py reads its database and Redis from these when it is imported.
os.environ.setdefault(
    "BENCH_APPROVALS_DATABASE_URL",
    os.environ.get("BENCH_CLUSTER_DATABASE_URL", "postgres://root@127.0.0.1:5432/portal_bench_cluster"),
)
os.environ.setdefault(
    "BENCH_APPROVALS_REDIS_URL", os.environ.get("BENCH_CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/9")
)

from bench import approvals  # noqa: E402
from bench.common import free_port  # noqa: E402
from portal.cluster import ClusterPlan  # noqa: E402

LOGS = ROOT / "var" / "bench-cluster"
POOL = os.environ.get("BENCH_DATABASE_POOL_MAX_SIZE", "8")


class RunningCluster:
    """A ClusterPlan's processes, each logging to var/bench-cluster/<label>-<name>.log."""

    def __init__(self, label: str, web: int, workers: int) -> None:
        self.plan = ClusterPlan(
            port=free_port(),
            web_ports=[free_port() for _ in range(web)],
            workers=workers,
            var_dir=LOGS / label,
        )
        env = self.plan.environment({**os.environ, "DATABASE_POOL_MAX_SIZE": POOL, "JOB_SWEEP_INTERVAL": "5"})
        env["PORTAL_BASE_URL"] = env["CSRF_TRUSTED_ORIGINS"] = self.plan.url
        LOGS.mkdir(parents=True, exist_ok=True)
        self.processes: list[tuple[str, subprocess.Popen]] = []
        for name, argv in self.plan.commands():
            log = (LOGS / f"{label}-{name}.log").open("w")
            process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            self.processes.append((name, process))

    def wait(self) -> None:
        import http.client

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for name, process in self.processes:
                if process.poll() is not None:
                    raise SystemExit(f"bench: {name} exited, see {LOGS}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.plan.port, timeout=2)
                conn.request("GET", "/readyz", headers={"Host": "127.0.0.1"})
                if conn.getresponse().status == 200:
                    time.sleep(3)  # every node up behind the proxy (its checks run every second)
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit("bench: the cluster did not start")

    def cpu_seconds(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for _, process in self.processes:
            pids = [process.pid]
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
            if children.exists():
                pids += [int(pid) for pid in children.read_text().split()]
            for pid in pids:
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except FileNotFoundError:
                    continue
                total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def stop(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                process.terminate()
        for _, process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()


def unfinished(since_pk: int) -> tuple[int, int]:
    """(approved requests whose job has not finished, requests that failed) created after since_pk."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status NOT IN ('DONE', 'CANCELED')),"
            " count(*) FILTER (WHERE status = 'CANCELED') FROM viewflow_process WHERE id > %s",
            [since_pk],
        )
        return cursor.fetchone()


def last_process_pk() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM viewflow_process")
        return cursor.fetchone()[0]


def cluster_run(label: str, web: int, workers: int, people: list[dict], rounds: int, offset: int) -> dict:
    cluster = RunningCluster(label, web, workers)
    try:
        cluster.wait()
        target = approvals.portal_target()
        approvals.http_run(cluster.plan.port, target, people, 1, offset + 50_000)  # warm-up
        since = last_process_pk()
        cpu_before = cluster.cpu_seconds()
        count, elapsed = approvals.http_run(cluster.plan.port, target, people, rounds, offset)
        cpu = cluster.cpu_seconds() - cpu_before
        deadline = time.monotonic() + 180
        while (left := unfinished(since)) != (0, 0):
            if left[1] or time.monotonic() > deadline:
                raise SystemExit(f"bench: {label}: {left[0]} requests unfinished, {left[1]} failed")
            time.sleep(1)
    finally:
        cluster.stop()
    return {"approvals": count, "elapsed": elapsed, "per_s": count / elapsed, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under two minutes")
    parser.add_argument("--clients", type=int, help="concurrent clients (default 16, 8 with --quick)")
    parser.add_argument("--rounds", type=int, help="requests per client (default 20, 4 with --quick)")
    args = parser.parse_args()
    clients = args.clients or (8 if args.quick else 16)
    rounds = args.rounds or (4 if args.quick else 20)

    approvals.prepare_database()
    people = approvals.create_people(clients)
    load_before = os.getloadavg()
    one = cluster_run("one", 1, 1, people, rounds, 0)
    two = cluster_run("two", 2, 2, people, rounds, 10_000)
    load_after = os.getloadavg()

    print(
        f"# {clients} clients x {rounds} requests (half above 1,000: two stages) through HAProxy; "
        f"web nodes: uvicorn, 1 process each, psycopg pool {POOL}; workers: 2 processes each; one beat; "
        f"PostgreSQL + Redis on loopback; {platform.node()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    for label, run in (("1 web node + 1 worker", one), ("2 web nodes + 2 workers", two)):
        print(
            f"# {label}: {run['approvals']} approvals in {run['elapsed']:.1f} s, 0 errors, every job done; "
            f"cluster CPU {1000 * run['cpu'] / run['approvals']:.1f} ms per approval"
        )
    print(
        f"BENCH cluster per_s={two['per_s']:.1f} approvals/s baseline={one['per_s']:.1f} "
        f"ratio={two['per_s'] / one['per_s']:.3f}"
    )


if __name__ == "__main__":
    main()
